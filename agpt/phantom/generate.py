"""Generate a whole phantom data set: plan, render images over a process pool, write every file."""

from __future__ import annotations

import json
import shutil
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

import numpy as np

from agpt.errors import AgptError
from agpt.phantom.dicom_writer import (HeaderVariant, build_dataset, mimic_jpg_pixels, save_dicom, save_jpg,
                                       stored_pixels)
from agpt.phantom.image import ImageSpec, make_image
from agpt.phantom.plan import Patient, PhantomConfig, Study, make_plan, relative_path
from agpt.phantom.tables import scene_graph, write_imagenome_splits, write_mimic_tables, write_mscxr

PHANTOM_VERSION = "1"
OUTPUTS = ("mimic-cxr", "mimic-cxr-jpg", "chest-imagenome", "ms-cxr", "phantom.json")


def _pixel_spacing(spec: ImageSpec) -> float:
    return 430.0 / max(spec.rows, spec.columns)  # a ~43 cm detector imaged at the phantom's size


def _render_one(job: tuple[int, ImageSpec, Patient, Study, str]) -> tuple[str, dict, list]:
    """Worker: draw one image, write its DICOM, JPG and scene graph; return its MS-CXR findings."""
    seed, spec, patient, study, out = job
    root = Path(out)
    result = make_image(spec, seed)
    rng = np.random.default_rng(np.random.SeedSequence([seed, 104729, spec.index]))
    variant = HeaderVariant.sample(rng)
    pixels = stored_pixels(result.brightness, variant, rng)
    hh, rest = divmod(study.time, 10000)
    mm, ss = divmod(rest, 100)
    ds = build_dataset(pixels, variant, dicom_id=spec.dicom_id, subject_id=spec.subject_id,
                       study_id=spec.study_id, patient_number=patient.number, view=spec.view,
                       study_date=study.date, study_time=f"{int(hh):02d}{int(mm):02d}{ss:06.3f}",
                       pixel_spacing_mm=_pixel_spacing(spec), sex=patient.sex)
    save_dicom(ds, root / "mimic-cxr" / relative_path(spec, "dcm"))
    save_jpg(mimic_jpg_pixels(ds), root / "mimic-cxr-jpg" / relative_path(spec, "jpg"))
    findings = [(f.category, phrase, [tuple(b) for b in f.boxes]) for f, phrase in result.findings]
    graph_findings = [(c, list(f.sides), p if spec.subset == "mscxr" else "")
                      for (c, p, _), (f, _) in zip(findings, result.findings)]
    graph = scene_graph(spec, patient, study, result.anatomy_boxes, graph_findings, rng)
    sg = root / "chest-imagenome" / "silver_dataset" / "scene_graph" / f"{spec.dicom_id}_SceneGraph.json"
    sg.write_text(json.dumps(graph))
    header = {"bits_stored": variant.bits_stored, "monochrome1": variant.monochrome1, "voi": variant.voi,
              "dropped_findings": len(result.dropped) if spec.subset == "mscxr" else 0}
    return spec.dicom_id, header, findings if spec.subset == "mscxr" else []


def generate_phantom(out: Path, config: PhantomConfig, overwrite: bool = False) -> dict:
    """Write the whole phantom under ``out``; returns the summary also stored in ``phantom.json``."""
    out = Path(out)
    existing = [name for name in OUTPUTS if (out / name).exists()]
    if existing and not overwrite:
        raise AgptError(f"{out} already holds a phantom ({', '.join(existing)}); pass --overwrite to replace it")
    for name in existing:
        target = out / name
        shutil.rmtree(target) if target.is_dir() else target.unlink()
    plan = make_plan(config)
    (out / "chest-imagenome" / "silver_dataset" / "scene_graph").mkdir(parents=True, exist_ok=True)
    jobs = [(config.seed, spec, plan.patients[spec.subject_id], plan.studies[spec.study_id], str(out))
            for spec in plan.images]
    if config.workers > 1:
        with ProcessPoolExecutor(max_workers=config.workers) as pool:
            results = list(pool.map(_render_one, jobs, chunksize=8))
    else:
        results = [_render_one(job) for job in jobs]
    findings_by_id = {dicom_id: findings for dicom_id, _, findings in results}
    write_imagenome_splits(out / "chest-imagenome" / "silver_dataset" / "splits", plan)
    write_mimic_tables(out / "mimic-cxr-jpg", plan)
    n_phrases, n_boxes = write_mscxr(out / "ms-cxr", plan, findings_by_id)
    headers = [h for _, h, _ in results]
    summary = {
        # the worker count never changes a byte, so it is not recorded
        "version": PHANTOM_VERSION, "config": {k: v for k, v in config.to_dict().items() if k != "workers"},
        "counts": {
            "patients": len(plan.patients), "images": len(plan.images),
            "pretrain_images": sum(s.subset == "pretrain" for s in plan.images),
            "mscxr_images": sum(s.subset == "mscxr" for s in plan.images),
            "mscxr_phrases": n_phrases, "mscxr_boxes": n_boxes,
            "mscxr_patients": sum(bool(p.mscxr_split) for p in plan.patients.values()),
            "pretrain_images_of_mscxr_patients": sum(
                s.subset == "pretrain" and bool(plan.patients[s.subject_id].mscxr_split) for s in plan.images),
            "monochrome1": sum(h["monochrome1"] for h in headers),
            "bits_stored_12": sum(h["bits_stored"] == 12 for h in headers),
            "voi_lut_only": sum(h["voi"] == "lut" for h in headers),
            "rescaled": sum(h["voi"] == "window+rescale" for h in headers),
            # planned MS-CXR findings that could not be drawn or phrased distinctly (expected 0)
            "mscxr_dropped_findings": sum(h["dropped_findings"] for h in headers),
        },
    }
    (out / "phantom.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    return summary
