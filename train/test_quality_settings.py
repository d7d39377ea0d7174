"""Unit tests of quality_settings (the setting names of quality.py, their clipping suffixes and
presets). Standard library only; run from the repository root:

    train/.venv/bin/python -m unittest train/test_quality_settings.py
"""
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_settings import (DEFAULT_SETTINGS, PRESETS, Setting, parse_check_settings, parse_setting,  # noqa: E402
                              parse_settings)

T = 1000  # num_train_timesteps


def refused(text):
    """The SystemExit message parse_setting gives for `text` (fails the test if it accepts it)."""
    try:
        parse_setting(text, T)
    except SystemExit as e:
        return str(e)
    raise AssertionError(f"{text!r} was accepted")


class NamesWithoutSuffix(unittest.TestCase):
    """The names of runs made before the clipping suffixes parse as they did."""

    def test_default_settings_unchanged(self):
        for name in DEFAULT_SETTINGS + ["dpmpp2m10", "dpmpp2m20", "ddpm20-posterior"]:
            s = parse_setting(name, T)
            self.assertEqual(s.name, name)
            self.assertEqual(s.clipping, "checkpoint")
            self.assertEqual(s.scheduler_overrides, {})
            self.assertFalse(s.use_clipped_model_output)

    def test_fields(self):
        self.assertEqual(parse_setting("ddpm1000-beta", T), Setting("ddpm1000-beta", "ddpm", 1000, variance="fixed_large"))
        self.assertEqual(parse_setting("ddpm50-posterior", T),
                         Setting("ddpm50-posterior", "ddpm", 50, variance="fixed_small"))
        self.assertEqual(parse_setting("ddim50-eta0.5", T), Setting("ddim50-eta0.5", "ddim", 50, eta=0.5))
        self.assertEqual(parse_setting("dpmpp2m20", T), Setting("dpmpp2m20", "dpmpp2m", 20))

    def test_canonical_eta(self):
        self.assertEqual(parse_setting(" ddim10-eta0.50 ", T).name, "ddim10-eta0.5")
        self.assertEqual(parse_setting("ddim10-eta1.0", T).name, "ddim10-eta1")
        self.assertEqual(parse_setting("ddim10-eta.5", T).name, "ddim10-eta0.5")

    def test_bad_names(self):
        for text in ["ddim50", "ddim50-eta", "ddpm1000", "ddpm10-large", "dpm20", "ddim50-eta1.5", "ddim0-eta0",
                     "ddpm1001-beta", "DDIM50-eta0", "ddim50-eta0-", "ddim50-eta-0.5"]:
            with self.subTest(text=text):
                refused(text)
        self.assertIn("eta must be in [0, 1]", refused("ddim50-eta1.5"))
        self.assertIn("steps must be 1..1000", refused("ddpm1001-beta"))


class ClippingSuffixes(unittest.TestCase):

    def test_clipoff(self):
        for base, sampler in (("ddim50-eta0", "ddim"), ("ddpm1000-beta", "ddpm"), ("ddpm20-posterior", "ddpm")):
            with self.subTest(base=base):
                s = parse_setting(base + "-clipoff", T)
                self.assertEqual((s.name, s.sampler, s.clipping), (base + "-clipoff", sampler, "off"))
                self.assertEqual(s.scheduler_overrides, {"clip_sample": False})
                self.assertFalse(s.use_clipped_model_output)
                self.assertFalse(s.clip_sample({"clip_sample": True}))

    def test_clipon_and_its_alias(self):
        for text in ("ddim10-eta1-clipon", "ddim10-eta1-clip", "ddim10-eta1.0-clip"):
            with self.subTest(text=text):
                s = parse_setting(text, T)
                self.assertEqual((s.name, s.clipping), ("ddim10-eta1-clipon", "clip"))
                self.assertEqual(s.scheduler_overrides, {"clip_sample": True})
                self.assertTrue(s.clip_sample({"clip_sample": False}))
        s = parse_setting("ddpm1000-posterior-clip", T)
        self.assertEqual((s.name, s.clipping, s.variance), ("ddpm1000-posterior-clipon", "clip", "fixed_small"))

    def test_recompute(self):
        s = parse_setting("ddim50-eta0.5-recompute", T)
        self.assertEqual((s.name, s.sampler, s.eta, s.clipping), ("ddim50-eta0.5-recompute", "ddim", 0.5, "recompute"))
        self.assertEqual(s.scheduler_overrides, {"clip_sample": True})
        self.assertTrue(s.use_clipped_model_output)

    def test_checkpoint_clip_sample(self):
        s = parse_setting("ddim50-eta0", T)
        self.assertTrue(s.clip_sample({"clip_sample": True}))
        self.assertFalse(s.clip_sample({"clip_sample": False}))
        self.assertTrue(s.clip_sample({}))  # diffusers' default
        self.assertIsNone(parse_setting("dpmpp2m20", T).clip_sample({"clip_sample": True}))

    def test_suffix_makes_a_different_setting(self):
        names = ["ddim50-eta0", "ddim50-eta0-clipoff", "ddim50-eta0-clipon", "ddim50-eta0-recompute"]
        settings = [parse_setting(n, T) for n in names]
        self.assertEqual(len(set(settings)), 4)
        self.assertEqual(len({s.name for s in settings}), 4)  # the sample cache dir is the name

    def test_refusals(self):
        msg = refused("ddpm1000-beta-recompute")
        self.assertIn("-recompute is DDIM's", msg)
        self.assertIn("ddpm1000-beta-clipon", msg)
        for suffix in ("-clipoff", "-clipon", "-clip", "-recompute"):
            with self.subTest(suffix=suffix):
                msg = refused("dpmpp2m20" + suffix)
                self.assertIn("dpmpp2m takes no clipping suffix", msg)
                self.assertIn("use dpmpp2m20", msg)
        for text in ("ddim50-eta0-clipx", "ddim50-eta0-checkpoint", "ddim50-eta0-off", "ddpm10-beta-posterior"):
            with self.subTest(text=text):
                self.assertIn("unknown suffix", refused(text))
        refused("ddim50-eta0-clipoff-clipon")
        refused("ddim50-eta0-CLIPOFF")


class Lists(unittest.TestCase):

    def test_order_and_duplicates(self):
        got = [s.name for s in parse_settings("ddim10-eta0-clipoff, ddim10-eta0,ddim10-eta0.0-clipoff,,ddim10-eta0-clip,"
                                              "ddim10-eta0-clipon", T)]
        self.assertEqual(got, ["ddim10-eta0-clipoff", "ddim10-eta0", "ddim10-eta0-clipon"])

    def test_empty(self):
        with self.assertRaises(SystemExit):
            parse_settings(" , ", T)

    def test_table1_preset(self):
        got = [s.name for s in parse_settings("table1", T)]
        self.assertEqual(len(got), 40)
        self.assertEqual(got, PRESETS["table1"])
        self.assertEqual(got[:4], ["ddim10-eta0", "ddim10-eta0.5", "ddim10-eta1", "ddpm10-beta"])
        self.assertEqual(got[20:24], ["ddim10-eta0-clipoff", "ddim10-eta0.5-clipoff", "ddim10-eta1-clipoff",
                                      "ddpm10-beta-clipoff"])
        for s in parse_settings("table1", T):
            self.assertIn(s.clipping, ("checkpoint", "off"))
            self.assertIn(s.steps, (10, 20, 50, 100, 1000))
            if s.sampler == "ddpm":
                self.assertEqual(s.variance, "fixed_large")
        # the settings of the shipped table that the preset shares keep their names (and caches)
        self.assertTrue({"ddim10-eta0", "ddim100-eta1", "ddpm1000-beta"} <= set(got))

    def test_preset_in_a_list(self):
        got = [s.name for s in parse_settings("dpmpp2m10,table1,ddim10-eta0,ddpm1000-posterior-clipoff", T)]
        self.assertEqual(len(got), 42)
        self.assertEqual(got[0], "dpmpp2m10")
        self.assertEqual(got[-1], "ddpm1000-posterior-clipoff")

    def test_preset_needs_1000_steps(self):
        with self.assertRaises(SystemExit):
            parse_settings("table1", 500)

    def test_check_settings(self):
        settings = parse_settings("ddim10-eta0,ddim10-eta0-clipoff,ddpm20-beta-clipon", T)
        self.assertEqual(parse_check_settings("all", settings, T),
                         ["ddim10-eta0", "ddim10-eta0-clipoff", "ddpm20-beta-clipon"])
        self.assertEqual(parse_check_settings("none", settings, T), [])
        self.assertEqual(parse_check_settings("ddpm20-beta-clip", settings, T), ["ddpm20-beta-clipon"])
        with self.assertRaises(SystemExit) as e:
            parse_check_settings("ddim10-eta0-recompute", settings, T)
        self.assertIn("not in --settings", str(e.exception))


if __name__ == "__main__":
    unittest.main()
