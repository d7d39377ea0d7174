"""Unit tests of quality_report's rendering of clipping variants (Table 1 per clipping, the sigma-hat
row, the note on the suffixes, --json-out). Needs the training venv (numpy, PIL, torch are
imported by the modules); runs no model. From the repository root:

    train/.venv/bin/python -m unittest train/test_quality_report.py
"""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_report import render_md, render_only, table1, write_results  # noqa: E402
from quality_settings import DEFAULT_SETTINGS, parse_settings  # noqa: E402


def rows(names, legacy=False):
    """Fake results rows for `names` (FD = 10 + steps / 100 + eta, sd 0.5); `legacy`: without the
    clipping fields, as results.json had them before the suffixes."""
    out = []
    for s in parse_settings(",".join(names), 1000):
        r = {"setting": s.name, "sampler": s.sampler, "steps": s.steps,
             "eta": s.eta if s.sampler == "ddim" else None,
             "variance": s.variance if s.sampler == "ddpm" else None,
             "fd": 10 + s.steps / 100 + s.eta + (5 if s.clipping == "off" else 0), "fd_sd": 0.5,
             "full_frame": 0.2, "n": 8, "sampler_wall_s": 1.0, "s_per_step_per_100": 0.5}
        if not legacy:
            r.update(clipping=s.clipping, clip_sample=s.clip_sample({"clip_sample": True}),
                     use_clipped_model_output=s.use_clipped_model_output if s.sampler == "ddim" else None)
        out.append(r)
    return out


def results(settings_rows):
    return {"command": "train/quality.py --test", "model": "/x/models/emoji32", "model_key": "abc", "data": "/x/d.npz",
            "data_sha256": "0" * 64, "seed": 0, "num_samples": 8, "threads": 1,
            "reference": {"split": "held-out", "n": 750}, "scheduler_clip_sample": True,
            "scheduler_clip_sample_range": 1.0,
            "classifier": {"spec": "cnn", "epochs": 1, "train_seconds": 1.0, "accuracy": 0.8,
                           "balanced_accuracy": 0.7},
            "floor": {"fd": 2.5, "n": 8, "n_all_training": 10, "fd_all_training": 2.0},
            "settings": settings_rows, "engine_check": {"k": 2, "tolerance": 1e-3, "results": []},
            "nearest_neighbours": {"heldout_baseline": {"median": 0.15, "p05": 0.02, "min": 0.01}, "results": []},
            "elapsed_s": 1.0, "time": "2026-12-02 11:00:00 +0000"}


class Table1(unittest.TestCase):

    def test_without_clipping_as_before(self):
        for legacy in (True, False):
            with self.subTest(legacy=legacy):
                L = table1(rows(DEFAULT_SETTINGS, legacy))
                self.assertEqual(L[0], "### DDIM: FD by steps S and eta (the DDIM paper's Table 1 layout)")
                self.assertEqual(L[2], "| eta \\ S | 10 | 20 | 50 | 100 |")
                self.assertFalse(any(line.startswith("| σ̂") for line in L))  # ddpm1000 only: no sigma-hat row
                self.assertTrue(any(line.startswith("DDPM for comparison: 1000 steps with the beta_t") for line in L))
                self.assertEqual(sum(line.startswith("### ") for line in L), 1)

    def test_table1_preset(self):
        L = table1(rows(["table1"]))
        heads = [line for line in L if line.startswith("### ")]
        self.assertEqual(heads, [
            "### DDIM: FD by steps S and eta (the DDIM paper's Table 1 layout), the scheduler config's clip_sample "
            "(no suffix)",
            "### DDIM: FD by steps S and eta (the DDIM paper's Table 1 layout), clip_sample off (-clipoff)"])
        sig = [line for line in L if line.startswith("| σ̂")]
        self.assertEqual(sig, ["| σ̂ (DDPM, beta_t) | 10.10 | 10.20 | 10.50 | 11.00 | 20.00 |",
                               "| σ̂ (DDPM, beta_t) | 15.10 | 15.20 | 15.50 | 16.00 | 25.00 |"])
        self.assertFalse(any(line.startswith("DDPM for comparison") for line in L))
        self.assertIn("| eta \\ S | 10 | 20 | 50 | 100 | 1000 |", L)

    def test_ddpm_not_in_the_grid_stays_a_sentence(self):
        L = table1(rows(["table1", "ddpm1000-posterior"]))
        self.assertEqual([line for line in L if line.startswith("DDPM for comparison")],
                         ["DDPM for comparison: 1000 steps with the posterior variance 20.00."])


class Markdown(unittest.TestCase):

    def test_clipping_note(self):
        md = render_md(results(rows(["ddim10-eta0", "ddim10-eta0-clipoff", "ddim10-eta0.5-recompute",
                                     "ddpm10-beta-clip"])))
        self.assertIn("| ddim10-eta0-clipoff | DDIM | 10 |", md)
        self.assertIn("| ddpm10-beta-clipon | DDPM | 10 |", md)
        note = next(line for line in md.split("\n") if line.startswith("Clipping of the predicted x_0"))
        self.assertIn("scheduler config's own (clip_sample true)", note)
        self.assertIn("-clipoff: the predicted x_0 is not clamped", note)
        self.assertIn("-recompute: clamped, and DDIM's noise estimate", note)
        self.assertIn("-clipon: x_0 clamped to [-1.0, 1.0]", note)

    def test_no_note_without_suffixes(self):
        md = render_md(results(rows(DEFAULT_SETTINGS, legacy=True)))
        self.assertNotIn("Clipping of the predicted x_0", md)


class JsonOut(unittest.TestCase):

    def test_write_and_render_only(self):
        o = results(rows(["ddim10-eta0", "ddim10-eta0-clipoff"]))
        with tempfile.TemporaryDirectory() as d:
            card = os.path.join(d, "quality.json")
            write_results(d, o, card)
            with open(card) as f:
                text = f.read()
            with open(os.path.join(d, "results.json")) as f:
                self.assertEqual(f.read(), text)
            back = json.loads(text)
            self.assertEqual([r["clipping"] for r in back["settings"]], ["checkpoint", "off"])
            self.assertEqual(back["command"], "train/quality.py --test")
            os.remove(card)
            render_only(d, card)
            with open(card) as f:
                self.assertEqual(f.read(), text)


if __name__ == "__main__":
    unittest.main()
