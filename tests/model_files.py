"""The real models of the golden tests (SmolLM2-135M-Instruct, Gemma 3 270M): where the
pull cache keeps them, and their Q8_0 requantizations.

A model is found by its `cllm pull` name in the pull cache (cllm_build/pull.py's
cache_dir: --cache, CLLM_CACHE, ~/.cache/cllm/models). When pull.KNOWN_MODELS knows
the name, its file name is used and a missing file is pulled; otherwise the file name
below (the one inside the model's PyPI wheel) is looked for.

`requant` rewrites a GGUF file with every quantized matrix dequantized and stored
again as Q8_0 or F32 by the `gguf` package (norms and other F32 tensors unchanged,
metadata copied). The result runs on any engine that has those types, so the
architectures can be checked against llama.cpp on the same bytes whatever weight
types the engine has; it is deterministic (the goldens record its sha256). The F32
variant is the architecture check proper: no rounding of matmul inputs, so both
engines compute the same float32 math in a different order (the Q8_0 variant rounds
every matmul input to 8 bits, and SmolLM2's outlier activations then turn one-ulp
differences into logit differences of up to 1).
Used by tests/test_llm_archs.py and bench/make_goldens.py.
"""

from __future__ import annotations

from pathlib import Path

# pull name -> file name in the cache, as the model's wheel names it
REAL_MODELS: dict[str, str] = {
    "smollm2-135m-instruct": "SmolLM2-135M-Instruct.Q4_1.gguf",
    "gemma3-270m": "gemma-3-270m-q4_k_m.gguf",
}


class ModelMissing(Exception):
    pass


def find_model(name: str) -> Path:
    """The pulled file of `name`; pulled first if pull knows the name. ModelMissing
    (naming the command to run) if it is neither cached nor pullable."""
    from cllm_build import pull

    known = pull.KNOWN_MODELS.get(name)
    fname = known.filename if known else REAL_MODELS[name]
    path = pull.cache_dir() / fname
    if path.is_file():
        return path
    if known:
        return Path(pull.pull(name).path)
    raise ModelMissing(f"model {name} not in the pull cache ({path}): run `cllm pull {name}`")


def sha256(path: Path) -> str:
    from cllm_build import pull

    return pull.sha256_file(path)


def _field_value(field):
    import gguf

    t = field.types[0]
    if t == gguf.GGUFValueType.ARRAY:
        sub = field.types[-1]
        if sub == gguf.GGUFValueType.STRING:
            return [bytes(field.parts[i]).decode("utf-8", "surrogateescape") for i in field.data], t, sub
        return [field.parts[i].tolist()[0] for i in field.data], t, sub
    if t == gguf.GGUFValueType.STRING:
        return bytes(field.parts[field.data[0]]).decode("utf-8", "surrogateescape"), t, None
    return field.parts[field.data[0]].tolist()[0], t, None


def requant(src: Path, dst: Path, qtype: str) -> Path:
    """Write `dst`: `src` with its quantized matrices stored as `qtype` ("Q8_0" or
    "F32"; see above). Done once: an existing dst is kept."""
    if dst.is_file():
        return dst
    import gguf
    import numpy as np

    r = gguf.GGUFReader(str(src))
    arch = _field_value(r.fields["general.architecture"])[0]
    tmp = dst.with_name(dst.name + ".tmp")
    w = gguf.GGUFWriter(str(tmp), arch)
    for key, field in r.fields.items():
        if key.startswith("GGUF.") or key == "general.architecture":
            continue
        val, t, sub = _field_value(field)
        if key == "general.file_type":
            val = int(gguf.LlamaFileType.MOSTLY_Q8_0 if qtype == "Q8_0" else gguf.LlamaFileType.ALL_F32)
        w.add_key_value(key, val, t, sub_type=sub)
    for t in r.tensors:
        shape = [int(x) for x in reversed(t.shape.tolist())]  # (ne1, ne0)
        if t.tensor_type in (gguf.GGMLQuantizationType.F32,):
            w.add_tensor(t.name, np.asarray(t.data, dtype=np.float32).reshape(shape))
            continue
        f = gguf.quants.dequantize(np.asarray(t.data), t.tensor_type).astype(np.float32).reshape(shape)
        if qtype == "F32":
            w.add_tensor(t.name, f)
            continue
        q = gguf.quants.quantize(f, gguf.GGMLQuantizationType.Q8_0)
        w.add_tensor(t.name, q, raw_dtype=gguf.GGMLQuantizationType.Q8_0)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    tmp.rename(dst)
    return dst


VARIANTS = ("published", "requant-q8_0", "requant-f32")


def model_variant(name: str, variant: str) -> Path:
    """Pulled model `name` as published, or a requantization of it (kept beside it in
    the cache, made on first use)."""
    src = find_model(name)
    if variant == "published":
        return src
    qtype = {"requant-q8_0": "Q8_0", "requant-f32": "F32"}[variant]
    return requant(src, src.with_name(f"{src.stem}.{variant}.gguf"), qtype)
