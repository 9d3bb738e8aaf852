"""Chest ImaGenome 1.0.0 silver data: split CSVs and scene graphs -> the 29 AGPT anatomy boxes per image.

Layout under the data set root (``chest-imagenome-dataset-1.0.0/`` or the phantom's
``chest-imagenome/``): ``silver_dataset/splits/{train,valid,test,images_to_avoid}.csv`` and the
scene graphs either unpacked in ``silver_dataset/scene_graph/`` or in ``silver_dataset/scene_graph.zip``
(entries ``scene_graph/<dicom_id>_SceneGraph.json``).  Boxes are the ``original_x1..original_y2``
values (xyxy, full-resolution pixels).  Silver boxes can be wrong: negative or past-the-edge
coordinates are clipped to the image, zero-area boxes dropped; each is counted by reason.
"""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from agpt.anatomy import ANATOMIES
from agpt.data.mimic import strip_prefix
from agpt.data.records import BoxXYXY
from agpt.data.rejects import RejectLog
from agpt.errors import DataError

SPLIT_FILES: dict[str, str] = {"train": "train.csv", "val": "valid.csv", "test": "test.csv"}
AVOID_FILE = "images_to_avoid.csv"
SPLIT_COLUMNS: tuple[str, ...] = ("subject_id", "study_id", "dicom_id", "path")
ORIGINAL_KEYS: tuple[str, ...] = ("original_x1", "original_y1", "original_x2", "original_y2")
GRAPH_SUFFIX = "_SceneGraph.json"


@dataclass(frozen=True)
class SplitRow:
    row: int  # line number in the CSV
    subject_id: str
    study_id: str
    dicom_id: str
    path: str  # as written (ends in .dcm)
    view_position: str  # "" when the column is absent or blank


def splits_dir(root: str | Path) -> Path:
    for cand in (Path(root) / "silver_dataset" / "splits", Path(root) / "splits"):
        if cand.is_dir():
            return cand
    raise DataError(root, "no silver_dataset/splits/ folder under the Chest ImaGenome root")


def read_split_csv(path: str | Path) -> list[SplitRow]:
    """A silver split CSV (leading unnamed index column or not; columns read by name)."""
    if not Path(path).is_file():
        raise DataError(path, "Chest ImaGenome split CSV not found")
    try:
        df = pd.read_csv(path, dtype=str, keep_default_na=False)
    except Exception as err:
        raise DataError(path, f"cannot read CSV: {err}") from err
    missing = [c for c in SPLIT_COLUMNS if c not in df.columns]
    if missing:
        raise DataError(path, f"missing required column(s) {missing}; found {list(df.columns)}")
    has_view = "ViewPosition" in df.columns
    out = []
    for i, rec in enumerate(df.to_dict("records"), start=2):
        dicom_id = rec["dicom_id"].strip()
        dicom_id = dicom_id.removesuffix(".dcm")
        out.append(
            SplitRow(
                i,
                strip_prefix(rec["subject_id"], "p"),
                strip_prefix(rec["study_id"], "s"),
                dicom_id,
                rec["path"].strip(),
                rec["ViewPosition"].strip().upper() if has_view else "",
            )
        )
    return out


def read_images_to_avoid(root: str | Path) -> set[str]:
    """dicom_ids listed in ``images_to_avoid.csv`` (gold images and their patients); empty if absent."""
    path = splits_dir(root) / AVOID_FILE
    return {r.dicom_id for r in read_split_csv(path)} if path.is_file() else set()


class SceneGraphStore:
    """Scene graphs by dicom_id, from an unpacked ``scene_graph/`` folder or ``scene_graph.zip``."""

    def __init__(self, root: str | Path):
        root = Path(root)
        self.root = root
        self._zip: zipfile.ZipFile | None = None
        self._dir: Path | None = None
        self._names: dict[str, str] = {}
        for folder in (root / "silver_dataset" / "scene_graph", root / "scene_graph"):
            if folder.is_dir():
                self._dir = folder
                self.source = str(folder)
                return
        for zpath in (root / "silver_dataset" / "scene_graph.zip", root / "scene_graph.zip"):
            if zpath.is_file():
                try:
                    self._zip = zipfile.ZipFile(zpath)
                except (OSError, zipfile.BadZipFile) as err:
                    raise DataError(zpath, f"cannot open scene-graph zip: {err}") from err
                self.source = str(zpath)
                for name in self._zip.namelist():
                    base = name.rsplit("/", 1)[-1]
                    if base.endswith(GRAPH_SUFFIX):
                        self._names[base[: -len(GRAPH_SUFFIX)]] = name
                return
        raise DataError(root, "no silver_dataset/scene_graph/ folder or silver_dataset/scene_graph.zip")

    def location(self, dicom_id: str) -> str:
        if self._dir is not None:
            return str(self._dir / f"{dicom_id}{GRAPH_SUFFIX}")
        return f"{self.source}:{self._names.get(dicom_id, f'scene_graph/{dicom_id}{GRAPH_SUFFIX}')}"

    def __contains__(self, dicom_id: str) -> bool:
        if self._dir is not None:
            return (self._dir / f"{dicom_id}{GRAPH_SUFFIX}").is_file()
        return dicom_id in self._names

    def load(self, dicom_id: str) -> dict:
        """The parsed graph; :class:`DataError` if it is missing or not a JSON object."""
        where = self.location(dicom_id)
        try:
            if self._dir is not None:
                text = (self._dir / f"{dicom_id}{GRAPH_SUFFIX}").read_text(encoding="utf-8")
            else:
                if dicom_id not in self._names:
                    raise FileNotFoundError(where)
                text = self._zip.read(self._names[dicom_id]).decode("utf-8")
        except FileNotFoundError:
            raise DataError(where, "missing scene graph") from None
        except (OSError, UnicodeDecodeError) as err:
            raise DataError(where, f"malformed scene graph: cannot read ({err})") from err
        try:
            doc = json.loads(text)
        except ValueError as err:
            raise DataError(where, f"malformed scene graph: invalid JSON ({err})") from err
        if not isinstance(doc, dict):
            raise DataError(where, "malformed scene graph: top level is not an object")
        return doc


def anatomy_boxes(
    doc: dict, where: str, dicom_id: str, width: int, height: int, box_counts: Counter, rejects: RejectLog
) -> dict[str, BoxXYXY] | None:
    """The clipped AGPT anatomy boxes of one graph (``{name: xyxy}`` in ANATOMIES order).

    Returns None when the graph is malformed (and ``rejects`` skips bad records).  ``box_counts``
    gets ``clipped_negative``, ``clipped_outside``, ``dropped_zero_area`` and ``kept`` increments.
    """
    image_id = str(doc.get("image_id", dicom_id)).removesuffix(".dcm")
    if image_id != dicom_id:
        rejects.bad(where, None, dicom_id, f"malformed scene graph: image_id {image_id!r} is not {dicom_id}")
        return None
    objects = doc.get("objects")
    if not isinstance(objects, list):
        rejects.bad(where, None, dicom_id, "malformed scene graph: no 'objects' list")
        return None
    found: dict[str, BoxXYXY] = {}
    for k, obj in enumerate(objects):
        try:
            name = str(obj["bbox_name"]).strip().lower()
            coords = [float(obj[key]) for key in ORIGINAL_KEYS]
        except (KeyError, TypeError, ValueError) as err:
            rejects.bad(where, f"objects[{k}]", dicom_id, f"malformed scene graph: bad object ({err!r})")
            return None
        if name not in ANATOMIES:
            continue  # the 7 silver names AGPT does not use
        if name in found:
            rejects.bad(
                where, f"objects[{k}]", dicom_id, f"malformed scene graph: duplicate bbox_name {name!r}"
            )
            return None
        x1, y1, x2, y2 = coords
        cx1, cx2 = min(max(x1, 0.0), width), min(max(x2, 0.0), width)
        cy1, cy2 = min(max(y1, 0.0), height), min(max(y2, 0.0), height)
        if cx2 <= cx1 or cy2 <= cy1:  # zero area (after clipping): never a training target
            box_counts["dropped_zero_area"] += 1
            rejects.drop(
                where,
                f"objects[{k}]",
                f"{dicom_id} | {name}",
                f"zero-area box: {name} is {coords} in a {width}x{height} image after clipping",
            )
            continue
        if min(coords) < 0:
            box_counts["clipped_negative"] += 1
        if max(x1, x2) > width or max(y1, y2) > height:
            box_counts["clipped_outside"] += 1
        found[name] = (cx1, cy1, cx2, cy2)
    box_counts["kept"] += len(found)
    return {a: found[a] for a in ANATOMIES if a in found}
