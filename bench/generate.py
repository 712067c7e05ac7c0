"""Generation speed, first-token latency, reply-ranking quality and peak memory of the local models.

    python bench/generate.py [--tweets /work/shared/data/tweeteval]
                             [--dialogs /work/shared/data/dailydialog-plusplus/dev.json]

Prints one JSON object. For each packaged GGUF model (smollm2, gemma3):
- speed: a ~200-token prompt of real tweets, greedy decoding, through townsquare's
  ``LlamaCppGenerator.stream`` and through llama-cpp-python's ``create_completion`` called
  directly on the same loaded model with the same settings; runs alternate, each run has a
  fresh prompt (no KV-cache reuse), medians are reported;
- quality: how well the model ranks real replies (DailyDialog++ dev: 5 good, 5 adversarial,
  5 random replies per context) by mean log-probability of the reply given the dialogue;
- memory: peak RSS of a fresh process that loads the default embedder and that generator,
  embeds 200 texts and generates 32 tokens.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
# The repo root replaces this folder on the path, so that bench/*.py never shadow the stdlib.
sys.path[0] = str(ROOT)

from townsquare.models.base import GenerationRequest
from townsquare.models.files import resolve_gguf
from townsquare.models.llama_cpp_generator import LlamaCppGenerator


def read_tweets(folder: Path) -> list[str]:
    lines = sorted({ln.strip() for f in sorted(folder.rglob("*_text.txt"))
                    for ln in f.read_text(encoding="utf-8").splitlines() if ln.strip()})
    random.Random(1).shuffle(lines)
    return lines


def make_prompts(llm, tweets: list[str], count: int, tokens: int = 200) -> list[str]:
    """``count`` distinct prompts of about ``tokens`` tokens, each starting with a different tweet."""
    prompts, i = [], 0
    for _ in range(count):
        lines = []
        while len(llm.tokenize("\n".join(lines + ["Reply:"]).encode(), add_bos=False)) < tokens - 8:
            lines.append(f"Post: {tweets[i]}")
            i += 1
        prompts.append("\n".join(lines + ["Reply:"]))
    return prompts


def timed(pieces) -> tuple[float, float, str]:
    """(seconds to first piece, total seconds, text) of a streaming iterator."""
    start, first, text = time.perf_counter(), None, []
    for piece in pieces:
        if first is None:
            first = time.perf_counter() - start
        text.append(piece)
    return first or 0.0, time.perf_counter() - start, "".join(text)


def direct_stream(llm, prompt: str, max_tokens: int):
    for chunk in llm.create_completion(prompt=prompt, max_tokens=max_tokens, temperature=0.0, top_p=0.95,
                                       repeat_penalty=1.1, stop=[], seed=None, stream=True):
        if chunk["choices"][0]["text"]:
            yield chunk["choices"][0]["text"]


def speed(generator: LlamaCppGenerator, tweets: list[str], reps: int, max_tokens: int) -> dict:
    llm = generator.model.llm
    prompts = make_prompts(llm, tweets, 2 * reps + 2)
    direct_stream(llm, prompts.pop(), 4)  # warm-up both paths
    list(generator.stream(GenerationRequest(prompt=prompts.pop(), max_tokens=4)))
    rows = {"direct": [], "townsquare": []}
    for rep in range(reps):
        for path in ("direct", "townsquare") if rep % 2 == 0 else ("townsquare", "direct"):
            prompt = prompts.pop()
            if path == "direct":
                first, total, text = timed(direct_stream(llm, prompt, max_tokens))
            else:
                first, total, text = timed(generator.stream(GenerationRequest(prompt=prompt, max_tokens=max_tokens)))
            n_prompt = len(llm.tokenize(prompt.encode()))
            n_out = len(llm.tokenize(text.encode(), add_bos=False))
            rows[path].append({"prompt_tokens": n_prompt, "first_token_s": first,
                               "prompt_tokens_per_s": n_prompt / first,
                               "decode_tokens_per_s": (n_out - 1) / max(total - first, 1e-9),
                               "completion_tokens": n_out})
    out = {path: {key: round(statistics.median(r[key] for r in runs), 4 if key == "first_token_s" else 1)
                  for key in runs[0]} for path, runs in rows.items()}
    out["ratio_prompt"] = round(out["townsquare"]["prompt_tokens_per_s"] / out["direct"]["prompt_tokens_per_s"], 3)
    out["ratio_decode"] = round(out["townsquare"]["decode_tokens_per_s"] / out["direct"]["decode_tokens_per_s"], 3)
    return out


def reply_logprob(llm, prefix: list[int], reply: str) -> float:
    """Mean log-probability of the reply's tokens after ``prefix``."""
    reply_tokens = llm.tokenize(f" {reply.strip()}\n".encode(), add_bos=False)[:60]
    llm.reset()
    llm.eval(prefix + reply_tokens)
    logits = np.asarray(llm.scores[len(prefix) - 1:len(prefix) + len(reply_tokens) - 1], dtype=np.float64)
    top = logits.max(1, keepdims=True)
    log_z = np.log(np.exp(logits - top).sum(1)) + top[:, 0]
    return float(np.mean(logits[np.arange(len(reply_tokens)), reply_tokens] - log_z))


def reply_ranking(spec, dialogs: Path, n: int, threads: int) -> dict:
    """Accuracy of ranking good replies above bad ones by mean token log-probability."""
    import llama_cpp
    llm = llama_cpp.Llama(model_path=str(spec.path), n_ctx=384, n_threads=threads, n_batch=384,
                          logits_all=True, verbose=False)
    rows = [json.loads(line) for line in dialogs.read_text().splitlines()[:n]]
    wins_random = wins_adv = top1 = pairs = 0
    for row in rows:
        turns = row["context"][-3:]
        speakers = ["A", "B"] if len(turns) % 2 == 0 else ["B", "A"]
        history = "".join(f"{speakers[i % 2]}: {t.strip()}\n" for i, t in enumerate(turns))
        prefix = llm.tokenize(f"A conversation.\n{history}{speakers[len(turns) % 2]}:".encode())[-300:]

        good, adv, rnd = ([reply_logprob(llm, prefix, r) for r in row[key]] for key in
                          ("positive_responses", "adversarial_negative_responses", "random_negative_responses"))
        wins_random += sum(g > r for g in good for r in rnd)
        wins_adv += sum(g > a for g in good for a in adv)
        pairs += len(good) * len(rnd)
        top1 += max(good) > max(adv + rnd)
    llm.close()
    return {"dialogs": len(rows), "good_vs_random_accuracy": round(wins_random / pairs, 3),
            "good_vs_adversarial_accuracy": round(wins_adv / pairs, 3), "recall_at_1_of_15": round(top1 / len(rows), 3)}


MEMORY_SCRIPT = """
import json, sys
from townsquare.models import GenerationRequest, get_embedder, get_generator
from townsquare.settings import Settings
settings = Settings(data_dir=sys.argv[1], generator_model=sys.argv[2])
texts = json.loads(sys.argv[3])
get_embedder(settings).embed(texts)
get_generator(settings).generate(GenerationRequest(prompt=texts[0], max_tokens=32))
# VmHWM, not ru_maxrss: ru_maxrss carries over the parent's size at fork time through exec.
peak_kb = int(open("/proc/self/status").read().split("VmHWM:")[1].split()[0])
print(json.dumps({"peak_rss_mb": round(peak_kb / 1024, 1), "torch_imported": "torch" in sys.modules}))
"""


def peak_memory(data_dir: Path, model: str, texts: list[str]) -> dict:
    args = [sys.executable, "-c", MEMORY_SCRIPT, str(data_dir), model, json.dumps(texts)]
    subprocess.run(args, check=True, capture_output=True)  # first run builds / assembles files
    done = subprocess.run(args, check=True, capture_output=True, text=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tweets", type=Path, default=Path("/work/shared/data/tweeteval"))
    parser.add_argument("--dialogs", type=Path, default=Path("/work/shared/data/dailydialog-plusplus/dev.json"))
    parser.add_argument("--data-dir", type=Path, default=ROOT / ".bench", help="where built model files go")
    parser.add_argument("--models", default="smollm2,gemma3")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--quality-n", type=int, default=30, help="dialogues to rank (0: skip)")
    parser.add_argument("--threads", type=int, default=2)
    args = parser.parse_args()

    tweets = read_tweets(args.tweets)
    result: dict = {"threads": args.threads, "max_tokens": args.max_tokens, "reps": args.reps, "models": {}}
    for name in args.models.split(","):
        spec = resolve_gguf(name, args.data_dir / "models")
        start = time.perf_counter()
        generator = LlamaCppGenerator(spec, threads=args.threads)
        generator.model  # noqa: B018 (load)
        entry = {"file_mb": round(spec.path.stat().st_size / 2**20, 1), "load_s": round(time.perf_counter() - start, 2),
                 "speed": speed(generator, tweets, args.reps, args.max_tokens)}
        if args.quality_n:
            entry["reply_ranking"] = reply_ranking(spec, args.dialogs, args.quality_n, args.threads)
        entry["peak_memory_with_embedder"] = peak_memory(args.data_dir, name, tweets[:200])
        result["models"][name] = entry
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
