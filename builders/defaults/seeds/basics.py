"""Seed functions of the embedded default build, written for this project: one small idea each (squares, a sign, a
palindrome), the kind of seed a 135M model can still turn into an instruction, a solution and tests."""


def squares(numbers):
    """Return the square of every number of a list, in order."""
    return [n * n for n in numbers]


def largest(numbers):
    """Return the largest number of a non-empty list."""
    best = numbers[0]
    for number in numbers[1:]:
        if number > best:
            best = number
    return best


def sign(x):
    """Return -1, 0 or 1 as x is negative, zero or positive."""
    if x > 0:
        return 1
    if x < 0:
        return -1
    return 0


def is_palindrome(text):
    """Return True when text reads the same backwards, ignoring case."""
    lowered = text.lower()
    return lowered == lowered[::-1]


def initials(name):
    """Return the upper-case first letters of the words of a name, e.g. "ada lovelace" -> "AL"."""
    return "".join(word[0].upper() for word in name.split())


def factorial(n):
    """Return n! for a non-negative integer n."""
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result


def minutes_and_seconds(seconds):
    """Split a number of seconds into whole minutes and the seconds left over."""
    return seconds // 60, seconds % 60


def reverse_words(sentence):
    """Return the words of sentence in reverse order, separated by single spaces."""
    return " ".join(reversed(sentence.split()))


def count_evens(numbers):
    """Count how many integers of a list are even."""
    return len([n for n in numbers if n % 2 == 0])


def running_total(numbers):
    """Return the list of cumulative sums of numbers."""
    totals = []
    total = 0
    for number in numbers:
        total += number
        totals.append(total)
    return totals
