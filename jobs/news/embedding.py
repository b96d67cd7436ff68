"""all-MiniLM-L6-v2 sentence embeddings on onnxruntime + tokenizers (files built by scripts/build-models.py).

Two precisions of the same model: `int8` (`model_int8.onnx`, dynamically quantized; the default: ~1.8–2× the fp32
inference speed on CPU, cosine to the fp32 embedding ≥ 0.98) and `fp32` (`model.onnx`, reproduces the published
similarities to ±0.001). The manifest names each precision's file, model version id and loader settings.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Sequence

import numpy as np

DIMENSION = 384
DEFAULT_MODEL_SUBDIR = "all-MiniLM-L6-v2"
PRECISIONS = ("int8", "fp32")
DEFAULT_PRECISION = "int8"
# Used when a model directory's manifest has no `precisions` (built before the int8 export).
_FILES = {"fp32": "model.onnx", "int8": "model_int8.onnx"}


class ModelFilesMissing(FileNotFoundError):
    pass


def check_precision(precision: str) -> str:
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision must be one of {', '.join(PRECISIONS)}, got {precision!r}")
    return precision


def resolve_model_dir(models_dir: str | os.PathLike | None, precision: str = "fp32") -> Path:
    """`models_dir` may be the model directory itself or its parent (`assets/models`)."""
    model_file = _FILES[check_precision(precision)]
    candidates = []
    if models_dir:
        base = Path(models_dir)
        candidates += [base, base / DEFAULT_MODEL_SUBDIR]
    repo_default = Path(__file__).resolve().parents[2] / "assets" / "models" / DEFAULT_MODEL_SUBDIR
    candidates.append(repo_default)
    for candidate in candidates:
        if (candidate / model_file).is_file() and (candidate / "tokenizer.json").is_file():
            return candidate
    raise ModelFilesMissing(
        f"no {model_file} + tokenizer.json in {', '.join(str(c) for c in candidates)}: run scripts/build-models.py"
    )


class SentenceEmbedder:
    """Batched, length-bucketed sentence embeddings; 384-d, mean pooled, L2-normalised (done inside the graph)."""

    def __init__(self, model_dir: str | os.PathLike | None = None, threads: int | None = None,
                 batch_size: int = 64, precision: str = DEFAULT_PRECISION):
        import onnxruntime as ort
        from tokenizers import Tokenizer

        self.precision = check_precision(precision)
        self.model_dir = resolve_model_dir(model_dir, precision)
        manifest_path = self.model_dir / "manifest.json"
        self.manifest = json.loads(manifest_path.read_text()) if manifest_path.exists() else {}
        entry = self.manifest.get("precisions", {}).get(precision, {})
        self.model_file = self.model_dir / entry.get("file", _FILES[precision])
        # e.g. all-MiniLM-L6-v2:int8@<sha256[:12]> — the id names the precision
        self.version = entry.get("version") or f"{self.manifest.get('version', DEFAULT_MODEL_SUBDIR)}:{precision}"
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or int(os.environ.get("NEWS_ORT_THREADS", "1"))
        options.inter_op_num_threads = 1
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        self.session = ort.InferenceSession(str(self.model_file), options, providers=["CPUExecutionProvider"],
                                            disabled_optimizers=entry.get("disabledOptimizers") or None)
        self.tokenizer = Tokenizer.from_file(str(self.model_dir / "tokenizer.json"))
        self.batch_size = batch_size

    def encode(self, texts: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        encodings = self.tokenizer.encode_batch([t if t else "" for t in texts])
        ids = np.array([e.ids for e in encodings], dtype=np.int64)
        mask = np.array([e.attention_mask for e in encodings], dtype=np.int64)
        return ids, mask

    def embed(self, texts: Sequence[str]) -> np.ndarray:
        """Returns float32 [len(texts), 384]. Texts are grouped by length to keep padding small."""
        texts = list(texts)
        out = np.empty((len(texts), DIMENSION), dtype=np.float32)
        if not texts:
            return out
        order = np.argsort([len(t) if t else 0 for t in texts], kind="stable")
        for start in range(0, len(texts), self.batch_size):
            idx = order[start:start + self.batch_size]
            ids, mask = self.encode([texts[i] for i in idx])
            out[idx] = self.session.run(["sentence_embedding"], {"input_ids": ids, "attention_mask": mask})[0]
        return out
