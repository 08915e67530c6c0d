"""`bench models build-tiny | list`: the tiny CPU models, and every built-in model name."""
from __future__ import annotations

import argparse
from pathlib import Path


def _build_tiny(args: argparse.Namespace) -> int:
    from bench.models.tiny import TINY_SPECS, build_tiny

    root = Path(args.out) if args.out else None
    for name in TINY_SPECS:
        print(f"{name}: {build_tiny(name, root, force=args.force)}")
    return 0


def _list(args: argparse.Namespace) -> int:
    from bench.metrics.roofline import ModelShape
    from bench.models.presets import PRESETS
    from bench.models.tiny import TINY_SPECS

    for spec in TINY_SPECS.values():
        print(f"{spec.name:20s} tiny Llama, hidden {spec.hidden_size}, {spec.num_hidden_layers} layers, "
              f"head_dim {spec.head_dim}, vocab {spec.vocab_size} (built locally)")
    for p in PRESETS.values():
        c, shape = p.config, ModelShape.from_config(p.config)
        print(f"{'preset:' + p.name:20s} {p.source} shape, {shape.params / 1e9:.2f} B params, hidden "
              f"{c['hidden_size']}, {c['num_hidden_layers']} layers, {c['num_attention_heads']}/"
              f"{c.get('num_key_value_heads')} heads/kv, vocab {p.vocab_size} (dummy weights)")
    return 0


def add_arguments(p: argparse.ArgumentParser) -> None:
    what = p.add_subparsers(dest="what", required=True)
    bt = what.add_parser("build-tiny", help="build the tiny model and its draft")
    bt.add_argument("--out", help="folder for models (default $BENCH_CACHE/models or ~/.cache/bench/models)")
    bt.add_argument("--force", action="store_true")
    bt.set_defaults(action=_build_tiny)
    what.add_parser("list", help="list built-in models").set_defaults(action=_list)


def main(args: argparse.Namespace) -> int:
    return args.action(args)
