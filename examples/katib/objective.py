"""A stand-in training script for the Katib examples: standard library only, runs in milliseconds.

It "trains" a model whose quality depends on the learning rate, the number of layers
and the optimizer, and logs one line per epoch the way Katib's metrics collectors
expect it:

- stdout, Katib's default ``name=value`` format (StdOut collector)::

      epoch 3: loss=0.412345 accuracy=0.834567

- stdout, Keras-like ``name: value`` (``--log-style=keras``; needs a custom ``metricsFormat``)::

      Epoch 3/10 - loss: 0.412345 - accuracy: 0.834567

- a metrics file (``--log-path=FILE``, File collector), JSON lines (``--log-format=json``,
  values as strings, as Katib's JSON parser requires) or text lines (``--log-format=text``)::

      {"epoch": "3", "loss": "0.412345", "accuracy": "0.834567", "timestamp": "2024-05-01T10:00:00.000000Z"}
      2024-05-01T10:00:00.000000Z epoch=3 loss=0.412345 accuracy=0.834567

The best settings are about ``--lr=0.02 --num-layers=4 --optimizer=adam``.

Example:
    python3 objective.py --lr=0.02 --num-layers=3 --optimizer=adam --epochs=5
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import random
import sys
import time
from datetime import datetime, timezone

OPTIMIZER_BONUS = {"adam": 0.0, "sgd": 0.06, "ftrl": 0.12, "rmsprop": 0.03}


def floor_loss(lr: float, num_layers: int, optimizer: str) -> float:
    """The loss the model converges to: best near lr=0.02, 4 layers and adam."""
    lr_term = 0.6 * math.log10(lr / 0.02) ** 2
    layer_term = 0.02 * (num_layers - 4) ** 2
    return 0.08 + lr_term + layer_term + OPTIMIZER_BONUS[optimizer]


def curve(lr: float, num_layers: int, optimizer: str, epochs: int, seed: int = 0) -> list[tuple[float, float]]:
    """``(loss, accuracy)`` after each epoch: an exponential decay towards ``floor_loss`` with a little noise."""
    rng = random.Random(f"{lr:.8g}/{num_layers}/{optimizer}/{seed}")
    floor = floor_loss(lr, num_layers, optimizer)
    speed = min(1.5, 0.15 + 40.0 * lr)  # larger learning rates converge faster
    out = []
    for epoch in range(1, epochs + 1):
        loss = floor + (2.3 - floor) * math.exp(-speed * epoch) + rng.gauss(0.0, 0.01)
        loss = max(loss, 0.01)
        accuracy = min(0.999, max(0.0, math.exp(-0.7 * loss) + rng.gauss(0.0, 0.005)))
        out.append((loss, accuracy))
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description="Synthetic training run that logs Katib-style metrics.")
    parser.add_argument("--lr", type=float, required=True, help="learning rate (> 0)")
    parser.add_argument("--num-layers", type=int, default=3, help="number of layers (>= 1)")
    parser.add_argument("--optimizer", choices=sorted(OPTIMIZER_BONUS), default="sgd")
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--epoch-seconds", type=float, default=0.0, help="sleep this long per epoch (demos)")
    parser.add_argument("--log-style", choices=["katib", "keras"], default="katib", help="stdout line format")
    parser.add_argument("--log-path", default=None, help="also write metrics to this file (File collector)")
    parser.add_argument("--log-format", choices=["json", "text"], default="json", help="format of --log-path")
    args = parser.parse_args(argv)
    if args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    if args.num_layers < 1:
        parser.error(f"--num-layers must be at least 1, got {args.num_layers}")
    if args.epochs < 1:
        parser.error(f"--epochs must be at least 1, got {args.epochs}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    print(f"training: lr {args.lr:g}, {args.num_layers} layers, optimizer {args.optimizer}, {args.epochs} epochs")
    if args.log_path:
        os.makedirs(os.path.dirname(os.path.abspath(args.log_path)), exist_ok=True)
    log = open(args.log_path, "w", encoding="utf-8") if args.log_path else contextlib.nullcontext()
    with log:
        results = curve(args.lr, args.num_layers, args.optimizer, args.epochs, args.seed)
        for epoch, (loss, accuracy) in enumerate(results, start=1):
            if args.epoch_seconds > 0:
                time.sleep(args.epoch_seconds)
            if args.log_style == "keras":
                print(f"Epoch {epoch}/{args.epochs} - loss: {loss:.6f} - accuracy: {accuracy:.6f}", flush=True)
            else:
                print(f"epoch {epoch}: loss={loss:.6f} accuracy={accuracy:.6f}", flush=True)
            if args.log_path:
                stamp = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
                if args.log_format == "json":
                    record = {
                        "epoch": str(epoch),
                        "loss": f"{loss:.6f}",
                        "accuracy": f"{accuracy:.6f}",
                        "timestamp": stamp,
                    }
                    log.write(json.dumps(record) + "\n")
                else:
                    log.write(f"{stamp} epoch={epoch} loss={loss:.6f} accuracy={accuracy:.6f}\n")
                log.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
