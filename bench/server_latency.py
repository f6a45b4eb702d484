#!/usr/bin/env python3
"""Per-change latency of ``leaflint server`` against a ``leaflint check -`` subprocess.

    python bench/server_latency.py                  # 31 interleaved rounds
    python bench/server_latency.py --rounds 51 --json out.json

The input is ``MODEL`` below: a 300-line PyTorch file (a GPT-style model, its optimizer setup,
an EMA, a training and a fine-tuning loop; 3 findings). It is written to a temporary directory
with no configuration, which is both tools' working directory.

* **server**: ``python -m leaflint server`` started once and initialised, the file opened and
  linted, then 3 warm-up changes. Each round sends one incremental ``textDocument/didChange``
  (a number on one line changes, as when typing) and measures the time from sending it to the
  ``textDocument/publishDiagnostics`` that carries the new version.
* **subprocess**: ``python -m leaflint check - --stdin-filename model.py --output-format json``
  with the same text on stdin (what an editor plugin that shells out to the linter runs on each
  change), from start to exit.
* **engine**: the server's own lint of that text (``leaflint.server.documents.lint``) called in
  this process: the floor under the server's figure (the rest is the protocol, the thread
  hand-off and the conversion to LSP).

Rounds are interleaved (one change, one subprocess run, one engine call). Both must report the same
findings (checked every round). Prints Markdown (medians, the ratio, the load average before
and after) and writes ``--json``. Needs the ``server`` extra (pygls, lsprotocol).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from lsprotocol import types
from pygls.lsp.client import LanguageClient

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from leaflint.server import documents  # noqa: E402  (the checkout's, like the children's)

# The benchmark input: a typical 300-line PyTorch training script.
MODEL = '''\
"""A small GPT-style language model with its training loop (benchmark input for leaflint server)."""

import math
import os
import time
from dataclasses import dataclass

import torch
import torch.nn as nn
import torch.nn.functional as F


@dataclass
class GPTConfig:
    block_size: int = 256
    vocab_size: int = 50304
    n_layer: int = 6
    n_head: int = 6
    n_embd: int = 384
    dropout: float = 0.1
    bias: bool = True


class LayerNorm(nn.Module):
    """LayerNorm with an optional bias."""

    def __init__(self, ndim, bias):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(ndim))
        self.bias = nn.Parameter(torch.zeros(ndim)) if bias else None

    def forward(self, x):
        return F.layer_norm(x, self.weight.shape, self.weight, self.bias, 1e-5)


class CausalSelfAttention(nn.Module):
    def __init__(self, config):
        super().__init__()
        assert config.n_embd % config.n_head == 0
        self.c_attn = nn.Linear(config.n_embd, 3 * config.n_embd, bias=config.bias)
        self.c_proj = nn.Linear(config.n_embd, config.n_embd, bias=config.bias)
        self.attn_dropout = nn.Dropout(config.dropout)
        self.resid_dropout = nn.Dropout(config.dropout)
        self.n_head = config.n_head
        self.n_embd = config.n_embd
        self.dropout = config.dropout
        mask = torch.tril(torch.ones(config.block_size, config.block_size))
        self.register_buffer("bias", mask.view(1, 1, config.block_size, config.block_size))

    def forward(self, x):
        B, T, C = x.size()
        q, k, v = self.c_attn(x).split(self.n_embd, dim=2)
        k = k.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        q = q.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        v = v.view(B, T, self.n_head, C // self.n_head).transpose(1, 2)
        att = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(k.size(-1)))
        att = att.masked_fill(self.bias[:, :, :T, :T] == 0, float("-inf"))
        att = F.softmax(att, dim=-1)
        att = self.attn_dropout(att)
        y = att @ v
        y = y.transpose(1, 2).contiguous().view(B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.c_fc = nn.Linear(config.n_embd, 4 * config.n_embd, bias=config.bias)
        self.gelu = nn.GELU()
        self.c_proj = nn.Linear(4 * config.n_embd, config.n_embd, bias=config.bias)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x):
        x = self.c_fc(x)
        x = self.gelu(x)
        x = self.c_proj(x)
        return self.dropout(x)


class Block(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.ln_1 = LayerNorm(config.n_embd, bias=config.bias)
        self.attn = CausalSelfAttention(config)
        self.ln_2 = LayerNorm(config.n_embd, bias=config.bias)
        self.mlp = MLP(config)

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        x = x + self.mlp(self.ln_2(x))
        return x


class GPT(nn.Module):
    def __init__(self, config):
        super().__init__()
        self.config = config
        self.transformer = nn.ModuleDict(dict(
            wte=nn.Embedding(config.vocab_size, config.n_embd),
            wpe=nn.Embedding(config.block_size, config.n_embd),
            drop=nn.Dropout(config.dropout),
            h=nn.ModuleList([Block(config) for _ in range(config.n_layer)]),
            ln_f=LayerNorm(config.n_embd, bias=config.bias),
        ))
        self.lm_head = nn.Linear(config.n_embd, config.vocab_size, bias=False)
        self.transformer.wte.weight = self.lm_head.weight
        self.apply(self._init_weights)
        for name, p in self.named_parameters():
            if name.endswith("c_proj.weight"):
                torch.nn.init.normal_(p, mean=0.0, std=0.02 / math.sqrt(2 * config.n_layer))
        self.temperature = nn.Parameter(torch.ones(1))
        self.temperature.fill_(0.7)

    def get_num_params(self, non_embedding=True):
        n_params = sum(p.numel() for p in self.parameters())
        if non_embedding:
            n_params -= self.transformer.wpe.weight.numel()
        return n_params

    def _init_weights(self, module):
        if isinstance(module, nn.Linear):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)
            if module.bias is not None:
                torch.nn.init.zeros_(module.bias)
        elif isinstance(module, nn.Embedding):
            torch.nn.init.normal_(module.weight, mean=0.0, std=0.02)

    def forward(self, idx, targets=None):
        device = idx.device
        b, t = idx.size()
        assert t <= self.config.block_size, f"sequence of length {t} is longer than {self.config.block_size}"
        pos = torch.arange(0, t, dtype=torch.long, device=device)
        tok_emb = self.transformer.wte(idx)
        pos_emb = self.transformer.wpe(pos)
        x = self.transformer.drop(tok_emb + pos_emb)
        for block in self.transformer.h:
            x = block(x)
        x = self.transformer.ln_f(x)
        if targets is not None:
            logits = self.lm_head(x) / self.temperature.data
            loss = F.cross_entropy(logits.view(-1, logits.size(-1)), targets.view(-1), ignore_index=-1)
        else:
            logits = self.lm_head(x[:, [-1], :])
            loss = None
        return logits, loss

    def crop_block_size(self, block_size):
        assert block_size <= self.config.block_size
        self.config.block_size = block_size
        self.transformer.wpe.weight = nn.Parameter(self.transformer.wpe.weight[:block_size])
        for block in self.transformer.h:
            if hasattr(block.attn, "bias"):
                block.attn.bias = block.attn.bias[:, :, :block_size, :block_size]

    def configure_optimizers(self, weight_decay, learning_rate, betas):
        param_dict = {pn: p for pn, p in self.named_parameters() if p.requires_grad}
        decay_params = [p for n, p in param_dict.items() if p.dim() >= 2]
        nodecay_params = [p for n, p in param_dict.items() if p.dim() < 2]
        optim_groups = [
            {"params": decay_params, "weight_decay": weight_decay},
            {"params": nodecay_params, "weight_decay": 0.0},
        ]
        return torch.optim.AdamW(optim_groups, lr=learning_rate, betas=betas)

    @torch.no_grad()
    def generate(self, idx, max_new_tokens, temperature=1.0, top_k=None):
        for _ in range(max_new_tokens):
            idx_cond = idx if idx.size(1) <= self.config.block_size else idx[:, -self.config.block_size:]
            logits, _ = self(idx_cond)
            logits = logits[:, -1, :] / temperature
            if top_k is not None:
                v, _ = torch.topk(logits, min(top_k, logits.size(-1)))
                logits[logits < v[:, [-1]]] = -float("Inf")
            probs = F.softmax(logits, dim=-1)
            idx_next = torch.multinomial(probs, num_samples=1)
            idx = torch.cat((idx, idx_next), dim=1)
        return idx


class EMA:
    """Exponential moving average of a model's parameters."""

    def __init__(self, model, decay=0.999):
        self.decay = decay
        self.shadow = {name: p.detach().clone() for name, p in model.named_parameters()}

    @torch.no_grad()
    def update(self, model):
        for name, p in model.named_parameters():
            self.shadow[name].mul_(self.decay).add_(p, alpha=1 - self.decay)

    @torch.no_grad()
    def copy_to(self, model):
        for name, p in model.named_parameters():
            p.copy_(self.shadow[name])


def get_batch(data, block_size, batch_size, device):
    ix = torch.randint(len(data) - block_size, (batch_size,))
    x = torch.stack([data[i:i + block_size] for i in ix])
    y = torch.stack([data[i + 1:i + 1 + block_size] for i in ix])
    return x.to(device), y.to(device)


def get_lr(it, warmup_iters, lr_decay_iters, learning_rate, min_lr):
    if it < warmup_iters:
        return learning_rate * it / warmup_iters
    if it > lr_decay_iters:
        return min_lr
    decay_ratio = (it - warmup_iters) / (lr_decay_iters - warmup_iters)
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


@torch.no_grad()
def estimate_loss(model, data, block_size, batch_size, eval_iters, device):
    out = {}
    model.eval()
    for split in ("train", "val"):
        losses = torch.zeros(eval_iters)
        for k in range(eval_iters):
            x, y = get_batch(data[split], block_size, batch_size, device)
            _, loss = model(x, y)
            losses[k] = loss.item()
        out[split] = losses.mean()
    model.train()
    return out


def save_checkpoint(model, optimizer, iter_num, best_val_loss, out_dir):
    checkpoint = {
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "iter_num": iter_num,
        "best_val_loss": best_val_loss,
    }
    os.makedirs(out_dir, exist_ok=True)
    torch.save(checkpoint, os.path.join(out_dir, "ckpt.pt"))


def manual_sgd_step(model, lr):
    for p in model.parameters():
        if p.grad is not None:
            p -= lr * p.grad
            p.grad = None


def train(data, out_dir="out", max_iters=2000, eval_interval=250, device="cpu"):
    config = GPTConfig()
    model = GPT(config).to(device)
    ema = EMA(model)
    optimizer = model.configure_optimizers(0.1, 6e-4, (0.9, 0.95))
    best_val_loss = 1e9
    t0 = time.time()
    for iter_num in range(max_iters):
        lr = get_lr(iter_num, 100, max_iters, 6e-4, 6e-5)
        for group in optimizer.param_groups:
            group["lr"] = lr
        if iter_num % eval_interval == 0:
            losses = estimate_loss(model, data, config.block_size, 12, 20, device)
            print(f"step {iter_num}: train {losses['train']:.4f}, val {losses['val']:.4f}")
            if losses["val"] < best_val_loss:
                best_val_loss = losses["val"]
                save_checkpoint(model, optimizer, iter_num, best_val_loss, out_dir)
        x, y = get_batch(data["train"], config.block_size, 12, device)
        logits, loss = model(x, y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        ema.update(model)
        if iter_num % 10 == 0:
            dt = time.time() - t0
            t0 = time.time()
            print(f"iter {iter_num}: loss {loss.item():.4f}, time {dt * 1000:.2f}ms")
    ema.copy_to(model)
    return model


def finetune_head(model, data, steps=100, lr=1e-3, device="cpu"):
    for p in model.transformer.parameters():
        p.requires_grad_(False)
    head = model.lm_head
    for step in range(steps):
        x, y = get_batch(data["train"], model.config.block_size, 8, device)
        _, loss = model(x, y)
        loss.backward()
        manual_sgd_step(model, lr)
        if step % 20 == 0:
            print(f"finetune step {step}: {loss.item():.4f}")
    head.weight.data = head.weight.data * 0.5
    return model


if __name__ == "__main__":
    n = 100_000
    data = {"train": torch.randint(0, 50304, (n,)), "val": torch.randint(0, 50304, (n // 10,))}
    trained = train(data, max_iters=20, eval_interval=10)
    finetune_head(trained, data, steps=5)
'''


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO)] + ([env["PYTHONPATH"]] if env.get("PYTHONPATH") else []))
    return env


class Server:
    """The server under a pygls client; ``change`` returns the latency of one change."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self.client = LanguageClient("leaflint-bench", "1")
        self.waiting: dict[int, asyncio.Future] = {}
        self.published: dict[int, list] = {}
        self.version = 0
        self.text = MODEL
        self.uri = (workdir / "model.py").as_uri()

        @self.client.feature(types.TEXT_DOCUMENT_PUBLISH_DIAGNOSTICS)
        def publish(params: types.PublishDiagnosticsParams) -> None:
            received = time.perf_counter()
            if params.uri != self.uri or params.version is None:
                return
            self.published[params.version] = params.diagnostics
            future = self.waiting.pop(params.version, None)
            if future is not None and not future.done():
                future.set_result(received)

        @self.client.feature(types.WINDOW_LOG_MESSAGE)
        def log(params: types.LogMessageParams) -> None:
            if params.type == types.MessageType.Error:
                print(f"server: {params.message}", file=sys.stderr)

    async def start(self) -> None:
        await self.client.start_io(sys.executable, "-m", "leaflint", "server", env=_env(), cwd=str(self.workdir))
        await self.client.initialize_async(types.InitializeParams(
            capabilities=types.ClientCapabilities(), root_uri=self.workdir.as_uri()))
        self.client.initialized(types.InitializedParams())
        self.version = 1
        future = self.waiting[1] = asyncio.get_running_loop().create_future()
        self.client.text_document_did_open(types.DidOpenTextDocumentParams(types.TextDocumentItem(
            uri=self.uri, language_id="python", version=1, text=self.text)))
        await asyncio.wait_for(future, 600)

    async def change(self, number: int) -> float:
        """Put ``number`` in place of train()'s max_iters default; seconds to the new diagnostics."""
        lines = self.text.split("\n")
        row = next(i for i, line in enumerate(lines) if line.startswith("def train("))
        start = lines[row].index("max_iters=") + len("max_iters=")
        end = lines[row].index(",", start)
        lines[row] = lines[row][:start] + str(number) + lines[row][end:]
        self.text = "\n".join(lines)
        self.version += 1
        future = self.waiting[self.version] = asyncio.get_running_loop().create_future()
        sent = time.perf_counter()
        self.client.text_document_did_change(types.DidChangeTextDocumentParams(
            text_document=types.VersionedTextDocumentIdentifier(uri=self.uri, version=self.version),
            content_changes=[types.TextDocumentContentChangePartial(
                range=types.Range(start=types.Position(row, start), end=types.Position(row, end)),
                text=str(number))]))
        received = await asyncio.wait_for(future, 600)
        return received - sent

    def findings(self) -> list[tuple[str, int]]:
        return sorted((d.code, d.range.start.line + 1) for d in self.published[self.version])

    async def stop(self) -> None:
        await self.client.shutdown_async(None)
        self.client.exit(None)
        await self.client.stop()


def check_subprocess(text: str, workdir: Path) -> tuple[float, list[tuple[str, int]]]:
    command = [sys.executable, "-m", "leaflint", "check", "-", "--stdin-filename", "model.py",
               "--output-format", "json", "--exit-zero"]
    start = time.perf_counter()
    done = subprocess.run(command, input=text, capture_output=True, text=True, env=_env(), cwd=str(workdir))
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"leaflint check failed ({done.returncode}): {done.stderr}")
    return elapsed, sorted((f["code"], f["location"]["row"]) for f in json.loads(done.stdout))


def engine_lint(text: str, workdir: Path, project) -> float:
    snapshot = documents.Snapshot((workdir / "model.py").as_uri(), str(workdir / "model.py"), 0, 0, text=text)
    start = time.perf_counter()
    documents.lint(snapshot, project)
    return time.perf_counter() - start


async def measure(rounds: int, warmup: int) -> dict:
    with tempfile.TemporaryDirectory(prefix="leaflint-latency-") as tmp:
        workdir = Path(tmp)
        (workdir / "model.py").write_text(MODEL)
        load_before = os.getloadavg()
        server = Server(workdir)
        await server.start()
        for i in range(warmup):
            await server.change(2100 + i)
            check_subprocess(server.text, workdir)
        project = documents.Project()
        server_times, check_times, engine_times = [], [], []
        for i in range(rounds):
            server_times.append(await server.change(3000 + i))
            elapsed, findings = check_subprocess(server.text, workdir)
            check_times.append(elapsed)
            engine_times.append(engine_lint(server.text, workdir, project))
            if findings != server.findings():
                raise SystemExit(f"the server and the subprocess disagree: {server.findings()} vs {findings}")
        await server.stop()
        load_after = os.getloadavg()
    server_median, check_median = statistics.median(server_times), statistics.median(check_times)
    return {
        "lines": MODEL.count("\n"),
        "findings": len(findings),
        "rounds": rounds,
        "server_ms": [round(t * 1000, 2) for t in server_times],
        "check_ms": [round(t * 1000, 2) for t in check_times],
        "engine_ms": [round(t * 1000, 2) for t in engine_times],
        "engine_median_ms": round(statistics.median(engine_times) * 1000, 2),
        "server_median_ms": round(server_median * 1000, 2),
        "check_median_ms": round(check_median * 1000, 2),
        "ratio": round(server_median / check_median, 3),
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "python": platform.python_version(),
        "cores": os.cpu_count(),
    }


def markdown(result: dict) -> str:
    def row(name: str, times: list[float]) -> str:
        p90 = statistics.quantiles(times, n=10)[-1]
        return f"| {name} | {statistics.median(times):.1f} | {min(times):.1f} | {p90:.1f} | {max(times):.1f} |"

    return "\n".join([
        f"{result['lines']}-line file, {result['findings']} findings, {result['rounds']} interleaved rounds; "
        f"Python {result['python']}, {result['cores']} cores; load average (1, 5, 15 min) before "
        f"{', '.join(map(str, result['load_before']))}, after {', '.join(map(str, result['load_after']))}.",
        "",
        "| per change | median ms | min ms | p90 ms | max ms |",
        "|---|---:|---:|---:|---:|",
        row("`leaflint server` (didChange -> publishDiagnostics)", result["server_ms"]),
        row("`leaflint check -` subprocess", result["check_ms"]),
        row("engine alone, in process (the server's floor)", result["engine_ms"]),
        "",
        f"Ratio of the medians (server / subprocess): {result['ratio']:.3f}.",
        ""])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=31)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--json", dest="json_path", default=None, help="Write the figures here too.")
    args = parser.parse_args()
    result = asyncio.run(measure(args.rounds, args.warmup))
    print(markdown(result))
    if args.json_path:
        Path(args.json_path).write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
