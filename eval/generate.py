"""Prompting models on code-editing tasks and turning their answers into solutions, as CursorCore's evaluation does.

Prompt modes:

* `wf`, `lc`, `sr`: the CursorCore conversation (history, current, user) for models trained in this format; the
  answer is `<|next_start|>{edit}<|next_end|>` in that edit format. Servers and transformers get the conversation as
  the text CursorCore's chat template renders (`train_configs/chat_template.jinja`), generation prompt included.
* `instruct`: one user message through the model's own chat template, with CursorCore's one-shot example first.
* `base`: CursorCore's completion prompt for base models (`<|messages_start|>...<|messages_end|>`).

Prompts are byte for byte what CursorCore's `eval/utils.py` builds (history steps included). Target-area markers
(`<|target|>`, `<|target_start|>...<|target_end|>`) are added only when asked for, and then, as CursorCore's
`--use_target_area` does, before the history is rendered, so the last history step is diffed against the marked code.

Answers are read as CursorCore's harness reads them (`extraction="reference"`: fences found anywhere in the edit,
LC blocks spliced in, SR search blocks placed by a fuzzy best match) or strictly (`"strict"`: the edit must be well
formed and apply exactly). An answer that cannot be read leaves the current code as the solution, as in CursorCore.

Generators: `ServerGenerator` (the LLM backends: a local llama.cpp server, an endpoint, TGI) and
`TransformersGenerator` (transformers on CPU, for small models).
"""

import asyncio
import hashlib
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, replace
from importlib import resources
from typing import Any

from cursorcore.processing.formats import FORMATS, EditFormatError, tolerant
from cursorcore.processing.formats.conversation import (
    apply_answer,
    mark_target,
    render_text,
    sample_messages,
    split_answer,
)
from cursorcore.processing.formats.fences import fence, find_fences
from cursorcore.schema import Sample, Snapshot
from cursorcore.tokens import NEXT_END, NEXT_START

logger = logging.getLogger(__name__)

MODES = ("wf", "lc", "sr", "instruct", "base")
EXTRACTIONS = ("reference", "strict")
# What servers answer for a prompt that does not fit the model's context: that task gets an empty answer.
REFUSED_PROMPT = frozenset({400, 413, 422})
STOP = (NEXT_END,)
MESSAGES_START, MESSAGES_END = "<|messages_start|>", "<|messages_end|>"
INTRO = f"Read the following messages during programming and return the modified code in this format:\n\n{NEXT_START}"
INTRO += f"{{modified code}}{NEXT_END}"
# CursorCore's one-shot example for instruct and base models: rename variables, answered in its whole-file form.
EXAMPLE = Sample(
    history=[Snapshot("a = 1\nb = 2\nc = a + b")],
    current=Snapshot("i = 1\nb = 2\nc = a + b"),
    user="Please change variable names.",
)
EXAMPLE_ANSWER = NEXT_START + fence("i = 1\nj = 2\nk = i + j", "python") + NEXT_END


@dataclass(frozen=True)
class Prompt:
    """What a model is given: chat `messages`, raw `text` to continue, or both (chat servers take the messages,
    transformers the text). `cursorcore_format`: the answer is written with CursorCore's special tokens, which the
    server must leave in the text."""

    messages: list[dict[str, str]] | None = None
    text: str | None = None
    cursorcore_format: bool = False


def describe(sample: Sample) -> str:
    """A task in CursorCore's plain-text form for instruct and base models."""
    parts = [f"Programming process {n}:\n{fence(s.code, s.lang)}" for n, s in enumerate(sample.history, start=1)]
    parts.append(f"Current code:\n{fence(mark_target(sample.current.code, sample.loc), sample.current.lang)}")
    if sample.user:
        parts.append(f"User instruction:\n{sample.user}")
    return "\n\n".join(parts).rstrip()


def build_prompt(sample: Sample, mode: str, target_area: bool = False) -> Prompt:
    if mode not in MODES:
        raise ValueError(f"unknown prompt mode {mode!r}; choose one of {', '.join(MODES)}")
    shown = sample if target_area else replace(sample, loc=None)
    if mode in FORMATS:
        messages = sample_messages(shown, mode, history_sees_target=True)
        return Prompt(messages, render_text(messages, add_generation_prompt=True), cursorcore_format=True)
    if mode == "instruct":
        return Prompt(
            messages=[
                {"role": "user", "content": f"{INTRO}\n\n{describe(EXAMPLE)}"},
                {"role": "assistant", "content": EXAMPLE_ANSWER},
                {"role": "user", "content": f"{INTRO}\n\n{describe(shown)}"},
            ]
        )
    text = f"{INTRO}\n\n{MESSAGES_START}{describe(EXAMPLE)}{MESSAGES_END}\n\n{EXAMPLE_ANSWER}\n\n"
    return Prompt(text=f"{text}{INTRO}\n\n{MESSAGES_START}{describe(shown)}{MESSAGES_END}\n\n")


def extract_solution(current: str, answer: str, mode: str, extraction: str = "reference") -> str:
    """The code an answer asks for: LC and SR edits applied to `current`, otherwise the first code fence of the
    edit (whole file). Anything unreadable gives `current` back. `extraction` is "reference" (CursorCore's
    tolerant reading) or "strict"."""
    if extraction == "reference":
        readers = {"lc": tolerant.read_lc, "sr": tolerant.read_sr}
        return readers.get(mode, tolerant.read_whole_file)(current, answer)
    if extraction != "strict":
        raise ValueError(f"unknown extraction {extraction!r}; choose one of {', '.join(EXTRACTIONS)}")
    if mode in ("lc", "sr"):
        try:
            return apply_answer(current, answer, mode)
        except EditFormatError:
            return current
    fences = find_fences(split_answer(answer)[0])
    return fences[0].code or "" if fences else current


def template_hash(mode: str, chat_template: str | None = None) -> str:
    """sha256 of everything that shapes the prompt text: the mode's fixed text, this project's chat template for the
    CursorCore formats, and the model's own chat template when it is known."""
    digest = hashlib.sha256(mode.encode())
    if mode in FORMATS:
        digest.update(resources.files("cursorcore.train_configs").joinpath("chat_template.jinja").read_bytes())
    else:
        digest.update((INTRO + describe(EXAMPLE) + EXAMPLE_ANSWER + MESSAGES_START + MESSAGES_END).encode())
    if chat_template:
        digest.update(chat_template.encode())
    return digest.hexdigest()


@dataclass(frozen=True)
class Sampling:
    """CursorCore's APEval settings by default: greedy (its README runs `--temperature 0.0`), at most 3072 new
    tokens (its `--max_tokens` default); with n > 1, its sampling (temperature 0.2, top-p 0.95) unless told
    otherwise."""

    n: int = 1
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int = 3072
    seed: int = 0

    @classmethod
    def for_samples(cls, n: int, temperature: float | None = None, top_p: float | None = None, **rest: Any):
        if temperature is None:
            temperature = 0.0 if n == 1 else 0.2
        if top_p is None:
            top_p = 1.0 if temperature == 0 else 0.95
        return cls(n=n, temperature=temperature, top_p=top_p, **rest)


class Generator(ABC):
    """A model that answers prompts. `describe()` is what the results file records about it."""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[list[str]]:
        """`sampling.n` answers per prompt, in order."""

    @abstractmethod
    def describe(self) -> dict[str, Any]:
        """Model name, revision and backend."""

    def chat_template(self) -> str | None:
        """The model's own chat template, when known here."""
        return None

    @abstractmethod
    def close(self) -> None:
        """Release the model or stop the server."""

    def __enter__(self) -> "Generator":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def cut_at_stop(text: str, stops: Sequence[str]) -> str:
    positions = [text.find(stop) for stop in stops if stop in text]
    return text[: min(positions)] if positions else text


class ServerGenerator(Generator):
    """A model behind the LLM backends (`cursorcore.processing.llm`): the local llama.cpp server (SmolLM2 by
    default), a running endpoint (TGI, vLLM, SGLang, llama.cpp) or TGI launched here. Instruct prompts go to the chat
    API with the model's own template; `base` prompts to the text-completion API.

    CursorCore-format prompts (wf, lc, sr) go to the text-completion API as the text CursorCore's
    "assistant-conversation" template renders (its `eval_apeval.py` asks the server for that template by name):
    the same bytes, without needing the template on the server, vLLM's `--trust-request-chat-template` for a
    request template, or a chat route that takes the roles `history` and `current` (llama.cpp's refuses them). They
    carry `skip_special_tokens: false`, as CursorCore's requests do (vLLM and SGLang would otherwise drop
    <|search_and_replace|> and the other tokens an answer is written with), and `add_special_tokens: false`, so no
    BOS token is added that the chat route would not add."""

    def __init__(self, config: Any) -> None:
        from cursorcore.processing.llm import make_backend

        self.config = config
        self.backend = make_backend(config)
        self.backend.start()

    def request(self, prompt: Prompt, sampling: Sampling) -> dict[str, Any]:
        """The generation parameters of one prompt (the messages or text go beside them)."""
        params = {
            "max_tokens": sampling.max_tokens,
            "temperature": sampling.temperature,
            "top_p": sampling.top_p,
            "seed": sampling.seed,
            "stop": list(STOP),
            "n": sampling.n,
        }
        if prompt.cursorcore_format:
            params |= {"skip_special_tokens": False, "add_special_tokens": False}
        return params

    def describe(self) -> dict[str, Any]:
        """For a GGUF file served here, its path and sha256 stand for the revision."""
        described = {"name": self.backend.served_model, "revision": None, "backend": self.config.backend}
        gguf = getattr(self.backend, "gguf", None)
        if gguf is not None:
            with open(gguf, "rb") as file:
                digest = hashlib.file_digest(file, "sha256").hexdigest()
            described |= {"file": str(gguf), "revision": f"sha256:{digest}"}
        return described

    def close(self) -> None:
        self.backend.stop()

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[list[str]]:
        return asyncio.run(self._generate(prompts, sampling))

    async def _generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[list[str]]:
        from tqdm.auto import tqdm

        from cursorcore.processing.llm import LLMRequestError

        async with self.backend.client() as client:
            bar = tqdm(total=len(prompts), desc="generating", unit="task", disable=len(prompts) < 10)

            async def answer(prompt: Prompt) -> list[str]:
                params = self.request(prompt, sampling)
                try:
                    if prompt.text is not None:
                        generation = await client.text_generation(prompt.text, **params)
                    else:
                        generation = await client.chat(prompt.messages, **params)
                except LLMRequestError as error:
                    if error.status not in REFUSED_PROMPT:  # a wrong URL or API (404): nothing will work
                        raise
                    logger.warning("the server refused a prompt (too long?); an empty answer: %s", error)
                    return [""] * sampling.n
                finally:
                    bar.update(1)
                return [cut_at_stop(text, STOP) for text in generation.texts]

            try:
                return list(await asyncio.gather(*(answer(prompt) for prompt in prompts)))
            finally:
                bar.close()


class TransformersGenerator(Generator):
    """A causal LM run by transformers on CPU: a Hub id (downloaded once, cached) or a local folder. Meant for small
    models; prompts are generated one at a time."""

    def __init__(self, model: str, revision: str | None = None, dtype: str = "float32") -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model_id, self.revision = model, revision
        self.tokenizer = AutoTokenizer.from_pretrained(model, revision=revision)
        self.model = AutoModelForCausalLM.from_pretrained(model, revision=revision, dtype=getattr(torch, dtype))
        self.model.eval()

    def describe(self) -> dict[str, Any]:
        commit = getattr(self.model.config, "_commit_hash", None)
        return {"name": self.model_id, "revision": self.revision or commit, "backend": "transformers"}

    def chat_template(self) -> str | None:
        return self.tokenizer.chat_template

    def close(self) -> None:
        self.model = None  # the weights can be freed; this generator is done

    def text(self, prompt: Prompt) -> str:
        if prompt.text is not None:
            return prompt.text
        return self.tokenizer.apply_chat_template(prompt.messages, tokenize=False, add_generation_prompt=True)

    def generate(self, prompts: Sequence[Prompt], sampling: Sampling) -> list[list[str]]:
        import torch

        torch.manual_seed(sampling.seed)
        stops = [*STOP, *filter(None, [self.tokenizer.eos_token])]
        options: dict[str, Any] = {"max_new_tokens": sampling.max_tokens, "num_return_sequences": sampling.n}
        if sampling.temperature > 0:
            options |= {"do_sample": True, "temperature": sampling.temperature, "top_p": sampling.top_p}
        else:
            options |= {"do_sample": False, "temperature": None, "top_p": None, "top_k": None}
        answers = []
        for prompt in prompts:
            inputs = self.tokenizer(self.text(prompt), return_tensors="pt", add_special_tokens=False)
            with torch.no_grad():
                output = self.model.generate(
                    **inputs,
                    **options,
                    stop_strings=list(STOP),
                    tokenizer=self.tokenizer,
                    pad_token_id=self.tokenizer.pad_token_id or self.tokenizer.eos_token_id,
                )
            new_tokens = output[:, inputs["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=False)
            answers.append([cut_at_stop(text, stops) for text in texts])
        return answers


def make_generator(backend: str, model: str | None = None, **options: Any) -> Generator:
    """`transformers` for a local model run here; `local`, `endpoint` or `tgi` for the LLM backends (`model` is then
    the GGUF file, the served model name, or the model to launch; `endpoint_url` goes with `endpoint`)."""
    if backend == "transformers":
        if not model:
            raise ValueError("the transformers backend needs --model (a Hub id or a local folder)")
        return TransformersGenerator(model, revision=options.get("revision"))
    from cursorcore.processing.llm import LLMConfig

    settings = {"backend": backend, "model": model, "endpoint_url": options.get("endpoint_url")}
    if backend == "local":  # llama.cpp answers one request at a time: queueing more only risks client timeouts
        settings |= {"max_concurrency": 1, "context_length": 8192}
    return ServerGenerator(LLMConfig(**settings))


def generate_solutions(
    samples: Sequence[Sample],
    generator: Generator,
    mode: str,
    sampling: Sampling,
    target_area: bool = False,
    extraction: str = "reference",
) -> list[list[tuple[str, str]]]:
    """For each sample, `sampling.n` pairs of (solution, raw answer)."""
    prompts = [build_prompt(sample, mode, target_area) for sample in samples]
    answers = generator.generate(prompts, sampling)
    return [
        [(extract_solution(sample.current.code, answer, mode, extraction), answer) for answer in sample_answers]
        for sample, sample_answers in zip(samples, answers, strict=True)
    ]
