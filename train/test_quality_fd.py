"""Unit tests of quality_fd's classifier file (--classifier): a given file is used as it is, one
made for another data file is refused with a message, a missing one is trained and saved there.
Needs the training venv; trains one tiny classifier for 1 epoch on 64 fake images (seconds). From the
repository root:

    train/.venv/bin/python -m unittest train/test_quality_fd.py
"""
import os
import sys
import tempfile
import unittest

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from quality_fd import features, get_classifier  # noqa: E402


def fake_data(sha="a" * 64, n=64):
    rng = np.random.default_rng(0)
    return {"images": rng.integers(0, 256, (n, 32, 32, 3), dtype=np.uint8),
            "category": rng.integers(0, 3, n), "category_names": np.array(["a", "b", "c"]),
            "split": np.array([0] * (n - 16) + [1] * 16), "sha256": sha}


class ClassifierFile(unittest.TestCase):
    def test_given_file_is_trained_once_then_reused_bit_for_bit(self):
        data = fake_data()
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "clf.pt")
            net1, info1 = get_classifier(data, d, epochs=1, path=path)
            self.assertFalse(info1["cached"])
            self.assertTrue(os.path.exists(path))
            self.assertFalse(os.path.exists(os.path.join(d, "classifier.pt")))
            torch.manual_seed(123)  # a reused file must not depend on the RNG state
            net2, info2 = get_classifier(data, d, epochs=1, path=path)
            self.assertTrue(info2["cached"])
            self.assertEqual(info2["path"], os.path.abspath(path))
            x = np.random.default_rng(1).uniform(-1, 1, (8, 3, 32, 32)).astype(np.float32)
            np.testing.assert_array_equal(features(net1, x), features(net2, x))

    def test_given_file_for_other_data_is_refused(self):
        with tempfile.TemporaryDirectory() as d:
            path = os.path.join(d, "clf.pt")
            get_classifier(fake_data(), d, epochs=1, path=path)
            with self.assertRaises(SystemExit) as e:
                get_classifier(fake_data(sha="b" * 64), d, epochs=1, path=path)
            msg = str(e.exception)
            self.assertIn("made for data aaaaaaaaaaaa", msg)
            self.assertIn("this run has data bbbbbbbbbbbb", msg)
            self.assertIn("build_dataset.py", msg)

    def test_default_cache_is_retrained_when_it_does_not_fit(self):
        with tempfile.TemporaryDirectory() as d:
            get_classifier(fake_data(), d, epochs=1)
            _, info = get_classifier(fake_data(sha="b" * 64), d, epochs=1)
            self.assertFalse(info["cached"])
            self.assertIsNone(info["path"])


if __name__ == "__main__":
    unittest.main()
