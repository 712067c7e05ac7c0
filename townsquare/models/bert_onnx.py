"""Build an fp32 ONNX graph of a BERT sentence encoder straight from its safetensors weights.

Why by hand: exporting through torch would make torch a serving dependency (or an install-time
step), and onnxruntime's optimizer only fuses graphs that look like torch exports. BERT is small
(embeddings + N identical layers), so we write the graph with onnxruntime's fused CPU ops
(EmbedLayerNormalization, Attention, BiasGelu, SkipLayerNormalization) and mean pooling, which
is both faster than the unfused graph and exact to float rounding.

Graph inputs: ``input_ids`` and ``attention_mask`` (int32, batch x seq, right padded).
Graph output: ``sentence_embedding`` (float32, batch x hidden), mean-pooled, not normalised.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from townsquare.errors import MissingDependencyError
from townsquare.models.files import private_tmp

_MS = "com.microsoft"
OPSET = 17


def build_bert_onnx(model_dir: Path, output: Path) -> Path:
    """Write the pooled-encoder ONNX graph of the BERT model in ``model_dir`` to ``output``."""
    try:
        import onnx
        from onnx import TensorProto, helper, numpy_helper
    except ImportError as exc:  # pragma: no cover - onnx is a core dependency
        raise MissingDependencyError("onnx (needed once, to build the embedding graph)",
                                     "pip install onnx==1.23.2") from exc
    from safetensors.numpy import load_file

    config = json.loads((model_dir / "config.json").read_text())
    weights = load_file(str(model_dir / "model.safetensors"))
    builder = _GraphBuilder(weights, config, numpy_helper, helper)
    nodes = builder.build()
    inputs = [helper.make_tensor_value_info(name, TensorProto.INT32, ["batch", "seq"])
              for name in ("input_ids", "attention_mask")]
    outputs = [helper.make_tensor_value_info("sentence_embedding", TensorProto.FLOAT,
                                             ["batch", config["hidden_size"]])]
    graph = helper.make_graph(nodes, "bert_mean_pooled", inputs, outputs, builder.initializers)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", OPSET),
                                                    helper.make_opsetid(_MS, 1)])
    model.ir_version = 8
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = private_tmp(output)
    try:
        onnx.save_model(model, str(tmp))
        tmp.replace(output)  # atomic: a concurrent reader never sees half a file
    finally:
        tmp.unlink(missing_ok=True)
    return output


def _quantiser_advice(record: logging.LogRecord) -> bool:
    """Drop onnxruntime's quantiser's own warnings; every other record passes."""
    return "onnxruntime" not in record.pathname or "quantization" not in record.pathname


def quantize_int8(source: Path, output: Path) -> Path:
    """An int8 copy of a graph built by ``build_bert_onnx``: weights quantised per output channel
    to 7 bits, activations quantised per run (onnxruntime's dynamic quantisation of every MatMul
    and the fused Attention; ``OnnxEmbedder`` runs each text alone so its scale is its own). The
    moderation encoder ran 1.41-1.69x as fast as in fp32 on AVX2 cores (``bench/moderate.py``);
    its vectors keep a mean cosine of 0.995 to fp32's, so heads must be trained on the int8
    encoder's own vectors.

    7-bit weights (``reduce_range``) keep the u8 x s8 products of CPUs without VNNI from
    saturating their 16-bit sums, so those CPUs and the ones with VNNI compute the same products."""
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    tmp = private_tmp(output)
    root = logging.getLogger()
    root.addFilter(_quantiser_advice)  # it advises, on the root logger, a pre-processing step it can't use
    try:
        # The graph, not its path: given a path, onnxruntime writes its shape-inferred copy beside the source
        # under one fixed name ("...-inferred.onnx") and deletes it, so two workers quantising the same cached
        # file at once broke each other (FileNotFoundError, "Failed to find proper ai.onnx domain"). Given the
        # graph, it works in a temporary folder of its own.
        quantize_dynamic(onnx.load(str(source)), str(tmp), weight_type=QuantType.QInt8, per_channel=True, reduce_range=True,
                         op_types_to_quantize=["MatMul", "Attention"],
                         extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT})
        tmp.replace(output)
    finally:
        root.removeFilter(_quantiser_advice)
        tmp.unlink(missing_ok=True)
    return output


class _GraphBuilder:
    """Turns BERT weights (torch Linear layout: out x in) into fused onnxruntime nodes."""

    def __init__(self, weights: dict[str, np.ndarray], config: dict, numpy_helper, helper) -> None:
        self.w, self.config = weights, config
        self.numpy_helper, self.helper = numpy_helper, helper
        self.initializers: list = []
        self.eps = float(config.get("layer_norm_eps", 1e-12))

    def init(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def node(self, op: str, inputs: list[str], outputs: list[str], ms: bool = False, **attrs):
        return self.helper.make_node(op, inputs, outputs, domain=_MS if ms else "", **attrs)

    def build(self) -> list:
        nodes = self._embeddings()
        hidden = "emb_out"
        for i in range(int(self.config["num_hidden_layers"])):
            layer_nodes, hidden = self._layer(i, hidden)
            nodes += layer_nodes
        return nodes + self._mean_pool(hidden)

    def _embeddings(self) -> list:
        w = self.w
        # token_type_ids are always 0 for single sentences: fold that row into the positions.
        positions = w["embeddings.position_embeddings.weight"] + w["embeddings.token_type_embeddings.weight"][0]
        ins = ["input_ids", "", self.init("word_emb", w["embeddings.word_embeddings.weight"]),
               self.init("pos_emb", positions.astype(np.float32)), "",
               self.init("emb_ln_g", w["embeddings.LayerNorm.weight"]),
               self.init("emb_ln_b", w["embeddings.LayerNorm.bias"]), "attention_mask"]
        return [self.node("EmbedLayerNormalization", ins, ["emb_out", "mask_index"], ms=True,
                          epsilon=self.eps)]

    def _layer(self, i: int, x: str) -> tuple[list, str]:
        p, w = f"encoder.layer.{i}.", self.w
        qkv_w = np.concatenate([w[p + f"attention.self.{k}.weight"].T for k in ("query", "key", "value")], axis=1)
        qkv_b = np.concatenate([w[p + f"attention.self.{k}.bias"] for k in ("query", "key", "value")])
        n = f"l{i}_"
        nodes = [
            self.node("Attention", [x, self.init(n + "qkv_w", qkv_w), self.init(n + "qkv_b", qkv_b), "mask_index"],
                      [n + "att"], ms=True, num_heads=int(self.config["num_attention_heads"])),
            self.node("MatMul", [n + "att", self.init(n + "ao_w", w[p + "attention.output.dense.weight"].T)],
                      [n + "ao"]),
            self.node("SkipLayerNormalization",
                      [n + "ao", x, self.init(n + "ln1_g", w[p + "attention.output.LayerNorm.weight"]),
                       self.init(n + "ln1_b", w[p + "attention.output.LayerNorm.bias"]),
                       self.init(n + "ao_b", w[p + "attention.output.dense.bias"])],
                      [n + "h1"], ms=True, epsilon=self.eps),
            self.node("MatMul", [n + "h1", self.init(n + "in_w", w[p + "intermediate.dense.weight"].T)], [n + "in"]),
            self.node("BiasGelu", [n + "in", self.init(n + "in_b", w[p + "intermediate.dense.bias"])],
                      [n + "gelu"], ms=True),
            self.node("MatMul", [n + "gelu", self.init(n + "out_w", w[p + "output.dense.weight"].T)], [n + "out"]),
            self.node("SkipLayerNormalization",
                      [n + "out", n + "h1", self.init(n + "ln2_g", w[p + "output.LayerNorm.weight"]),
                       self.init(n + "ln2_b", w[p + "output.LayerNorm.bias"]),
                       self.init(n + "out_b", w[p + "output.dense.bias"])],
                      [n + "h2"], ms=True, epsilon=self.eps),
        ]
        return nodes, n + "h2"

    def _mean_pool(self, hidden: str) -> list:
        axis_1, axis_2 = self.init("axis_1", np.array([1], np.int64)), self.init("axis_2", np.array([2], np.int64))
        tiny = self.init("tiny", np.array(1e-9, np.float32))
        return [
            self.node("Cast", ["attention_mask"], ["mask_f"], to=1),  # 1 = FLOAT
            self.node("Unsqueeze", ["mask_f", axis_2], ["mask_3d"]),
            self.node("Mul", [hidden, "mask_3d"], ["masked"]),
            self.node("ReduceSum", ["masked", axis_1], ["summed"], keepdims=0),
            self.node("ReduceSum", ["mask_f", axis_1], ["count"], keepdims=1),
            self.node("Max", ["count", tiny], ["count_safe"]),
            self.node("Div", ["summed", "count_safe"], ["sentence_embedding"]),
        ]
