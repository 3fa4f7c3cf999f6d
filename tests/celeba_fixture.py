"""Writes a tiny folder in CelebA's exact file format (for adapter and fine-tuning tests)."""

from pathlib import Path

import cv2
import numpy as np

CELEBA_HEADER = (
    "5_o_Clock_Shadow Arched_Eyebrows Attractive Bags_Under_Eyes Bald Bangs Big_Lips Big_Nose "
    "Black_Hair Blond_Hair Blurry Brown_Hair Bushy_Eyebrows Chubby Double_Chin Eyeglasses Goatee "
    "Gray_Hair Heavy_Makeup High_Cheekbones Male Mouth_Slightly_Open Mustache Narrow_Eyes No_Beard "
    "Oval_Face Pale_Skin Pointy_Nose Receding_Hairline Rosy_Cheeks Sideburns Smiling Straight_Hair "
    "Wavy_Hair Wearing_Earrings Wearing_Hat Wearing_Lipstick Wearing_Necklace Wearing_Necktie Young"
).split()


def write_celeba(root: Path, n: int = 12, seed: int = 0, partition: bool = True) -> Path:
    rng = np.random.default_rng(seed)
    (root / "img_align_celeba").mkdir(parents=True)
    lines = [str(n), " ".join(CELEBA_HEADER) + " "]
    parts = []
    for i in range(1, n + 1):
        name = f"{i:06d}.jpg"
        img = rng.integers(0, 255, (218, 178, 3), dtype=np.uint8)
        cv2.imwrite(str(root / "img_align_celeba" / name), img)
        flags = -np.ones(len(CELEBA_HEADER), int)
        on = {
            "Male": i % 2,
            "Young": i % 3 != 0,
            "Smiling": i % 4 == 0,
            "Eyeglasses": i % 5 == 0,
            "No_Beard": i % 2 == 0 or i % 3 == 0,
            "Wearing_Hat": i % 6 == 0,
            "Pale_Skin": i % 7 == 0,
            ["Black_Hair", "Brown_Hair", "Blond_Hair", "Gray_Hair"][i % 4]: True,
        }
        for key, value in on.items():
            if value:
                flags[CELEBA_HEADER.index(key)] = 1
        lines.append(name + "".join(f"{f:3d}" for f in flags))
        parts.append(f"{name} {0 if i <= n - 4 else (1 if i <= n - 2 else 2)}")
    (root / "list_attr_celeba.txt").write_text("\n".join(lines) + "\n")
    if partition:
        (root / "list_eval_partition.txt").write_text("\n".join(parts) + "\n")
    return root
