"""One request cache file written by several processes at once (a local executor's workers share one file)."""

import multiprocessing

from cursorcore.processing.llm.cache import RequestCache


def write_answers(path: str, worker: int, count: int) -> None:
    cache = RequestCache(path)
    for index in range(count):
        cache.put({"messages": [{"role": "user", "content": f"{worker}-{index}"}]}, {"text": f"answer {index}"})
    cache.close()


def test_processes_writing_one_file_at_once_lose_nothing(tmp_path):
    path = str(tmp_path / "cache.sqlite")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=write_answers, args=(path, worker, 100)) for worker in range(4)]
    for process in workers:
        process.start()
    for process in workers:
        process.join(120)
    assert [process.exitcode for process in workers] == [0] * 4
    cache = RequestCache(path)
    assert len(cache) == 400
    assert cache.get({"messages": [{"role": "user", "content": "3-99"}]}) == {"text": "answer 99"}
