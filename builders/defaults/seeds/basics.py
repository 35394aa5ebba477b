"""Seed functions of the embedded default build, written for this project: one small idea each (a mean, a clamp, a
palindrome), the kind of seed a 135M model can still turn into an instruction, a solution and tests."""


def average(numbers):
    """Return the arithmetic mean of a non-empty list of numbers."""
    return sum(numbers) / len(numbers)


def largest(numbers):
    """Return the largest number of a non-empty list."""
    best = numbers[0]
    for number in numbers[1:]:
        if number > best:
            best = number
    return best


def clamp(value, low, high):
    """Limit value to the closed interval [low, high]."""
    return max(low, min(value, high))


def is_palindrome(text):
    """Return True when text reads the same backwards, ignoring case."""
    lowered = text.lower()
    return lowered == lowered[::-1]


def count_vowels(text):
    """Count the vowels (a, e, i, o, u, either case) in text."""
    return sum(1 for char in text.lower() if char in "aeiou")


def factorial(n):
    """Return n! for a non-negative integer n."""
    result = 1
    for k in range(2, n + 1):
        result *= k
    return result


def celsius_to_fahrenheit(celsius):
    """Convert a temperature from degrees Celsius to degrees Fahrenheit."""
    return celsius * 9 / 5 + 32


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
