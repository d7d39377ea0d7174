#!/usr/bin/env python3
"""The engine's noise generator (src/rng.rs) in numpy: the same x_T and per-step noise as
`dp sample --seed S`, so diffusers can be run from exactly the engine's random numbers.

Every value is a pure function of (seed, purpose, sample, element index):

* purpose 0 is x_T, purpose 1 + i the noise of reverse step i (0 = the first step taken);
* each (seed, purpose, sample) triple is its own xoshiro256++ stream, keyed by SplitMix64
  mixing of the three numbers and seeded by SplitMix64;
* Gaussians come in pairs from Box-Muller in float64 (u1 in (0, 1], u2 in [0, 1), 53 bits each),
  cast to float32; an odd length drops the second value of the last pair.

The streams of a batch are generated side by side (one uint64 lane per stream), so the cost
is a loop over element pairs, not over samples. numpy's log / cos / sin are not the `libm`
crate's, so a value can differ in the last bit of the float64 result; after the cast to
float32 that almost never shows (the golden values below are bit-exact, and quality.py checks
whole sampling runs against the engine).

`python train/engine_rng.py` runs the self-check against the reference vectors of
src/rng.rs's unit tests and tests/rng.rs's golden values.
"""
import numpy as np

INITIAL_NOISE_PURPOSE = 0
_MASK = (1 << 64) - 1
_GAMMA = 0x9E3779B97F4A7C15
_M1 = np.uint64(0xBF58476D1CE4E5B9)
_M2 = np.uint64(0x94D049BB133111EB)
_TWO_POW_MINUS_53 = 1.0 / float(1 << 53)


def step_noise_purpose(step_index):
    """purpose of the noise added by reverse step `step_index` (0 = the first step taken)."""
    return 1 + int(step_index)


def _u64(x):
    """Python int(s) or array -> uint64 array (ints taken modulo 2^64, like Rust's wrapping ops)."""
    if isinstance(x, np.ndarray):
        return x.astype(np.uint64)
    if np.isscalar(x):
        return np.array([int(x) & _MASK], dtype=np.uint64)
    return np.array([int(v) & _MASK for v in x], dtype=np.uint64)


def _rotl(x, k):
    return (x << np.uint64(k)) | (x >> np.uint64(64 - k))


def _mix(z):
    """SplitMix64's output function, elementwise on uint64 arrays."""
    z = (z ^ (z >> np.uint64(30))) * _M1
    z = (z ^ (z >> np.uint64(27))) * _M2
    return z ^ (z >> np.uint64(31))


class SplitMix64:
    """SplitMix64 as a generator (vectorised: one lane per state)."""

    def __init__(self, state):
        self.state = _u64(state)

    def next_u64(self):
        with np.errstate(over="ignore"):
            self.state = self.state + np.uint64(_GAMMA)
            return _mix(self.state)


class Xoshiro256PlusPlus:
    """xoshiro256++ 1.0, one lane per stream: s is a (4, n) uint64 array."""

    def __init__(self, s):
        self.s = np.array(s, dtype=np.uint64).reshape(4, -1).copy()

    @classmethod
    def for_streams(cls, seed, purpose, samples):
        """The streams (seed, purpose, sample) for every sample in `samples` (as rng.rs's
        Xoshiro256PlusPlus::for_stream)."""
        samples = _u64(samples)
        with np.errstate(over="ignore"):
            key = _mix(_u64(int(seed) + _GAMMA))
            key = _mix(key ^ _u64(int(purpose) * _GAMMA))
            key = _mix(key ^ samples)
        sm = SplitMix64(key)
        return cls(np.stack([sm.next_u64() for _ in range(4)]))

    def next_u64(self):
        s0, s1, s2, s3 = self.s
        with np.errstate(over="ignore"):
            result = _rotl(s0 + s3, 23) + s0
        t = s1 << np.uint64(17)
        s2 ^= s0
        s3 ^= s1
        s1 ^= s2
        s0 ^= s3
        s2 ^= t
        s3[:] = _rotl(s3, 45)
        return result


def stream_noise(seed, purpose, samples, length):
    """Standard Gaussians of the streams (seed, purpose, k) for k in `samples`:
    float32 array (len(samples), length). Row j equals rng.rs's
    fill_gaussian(seed, purpose, samples[j], out[..length])."""
    samples = _u64(samples)
    n = samples.shape[0]
    pairs = (length + 1) // 2
    rng = Xoshiro256PlusPlus.for_streams(seed, purpose, samples)
    raw = np.empty((2 * pairs, n), dtype=np.uint64)
    for p in range(pairs):
        raw[2 * p] = rng.next_u64()
        raw[2 * p + 1] = rng.next_u64()
    bits = raw >> np.uint64(11)
    u1 = (bits[0::2] + np.uint64(1)).astype(np.float64) * _TWO_POW_MINUS_53
    u2 = bits[1::2].astype(np.float64) * _TWO_POW_MINUS_53
    r = np.sqrt(-2.0 * np.log(u1))
    theta = 2.0 * np.pi * u2
    out = np.empty((n, 2 * pairs), dtype=np.float32)
    out[:, 0::2] = (r * np.cos(theta)).T
    out[:, 1::2] = (r * np.sin(theta)).T
    return out[:, :length]


def initial_noise(seed, batch, sample_len, first_sample=0):
    """x_T of samples first_sample .. first_sample + batch: float32 (batch, sample_len).
    With first_sample 0 this is rng.rs's initial_noise(seed, batch, sample_len), reshaped."""
    return stream_noise(seed, INITIAL_NOISE_PURPOSE, np.arange(first_sample, first_sample + batch), sample_len)


def step_noise(seed, step_index, batch, sample_len, first_sample=0):
    """Noise of reverse step `step_index` (0 = first step taken) for samples
    first_sample .. first_sample + batch: float32 (batch, sample_len)."""
    return stream_noise(seed, step_noise_purpose(step_index),
                        np.arange(first_sample, first_sample + batch), sample_len)


def _self_check():
    import time

    ok = True

    def check(name, got, want):
        nonlocal ok
        good = list(got) == list(want)
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}: {list(got)}" + ("" if good else f" (want {list(want)})"))

    x = Xoshiro256PlusPlus([1, 2, 3, 4])
    check("xoshiro256++ state {1,2,3,4}", [int(x.next_u64()[0]) for _ in range(4)],
          [41943041, 58720359, 3588806011781223, 3591011842654386])
    sm = SplitMix64(1234567)
    check("splitmix64 seed 1234567", [int(sm.next_u64()[0]) for _ in range(3)],
          [6457827717110365317, 3203168211198807973, 9817491932198370423])
    golden = [0xbeff9a43, 0x3f4d225b, 0xbe98636d, 0xbf7d6295, 0xbe70f271, 0xbdc84f6c, 0xbc87556d, 0xbe651d59]
    check("initial_noise(42, 1, 8) bits", [hex(int(b)) for b in initial_noise(42, 1, 8).view(np.uint32)[0]],
          [hex(g) for g in golden])

    # Structure: batch independence, per-stream chunks, odd lengths, huge seeds.
    a = initial_noise(123, 16, 192)
    b = initial_noise(123, 4, 192, first_sample=5)
    c = step_noise(123, 5, 3, 192)
    checks = {
        "batch of 16 extends batch of 1": np.array_equal(a[:1], initial_noise(123, 1, 192)),
        "samples 5..9 from first_sample=5": np.array_equal(a[5:9], b),
        "step_noise = stream purpose 1+i": np.array_equal(c, stream_noise(123, 6, [0, 1, 2], 192)),
        "odd length extends": np.array_equal(stream_noise(9, 1, [0], 20)[:, :7], stream_noise(9, 1, [0], 7)),
        "seed 2^64-1 finite": bool(np.isfinite(initial_noise(2**64 - 1, 2, 64)).all()),
    }
    for name, good in checks.items():
        ok &= good
        print(f"{'ok  ' if good else 'FAIL'} {name}")
    v = stream_noise(42, 1, [0], 100_000)[0].astype(np.float64)
    good = abs(v.mean()) < 0.02 and abs(v.var() - 1) < 0.02
    ok &= good
    print(f"{'ok  ' if good else 'FAIL'} moments of 100k values: mean {v.mean():+.4f}, var {v.var():.4f}")

    t = time.perf_counter()
    initial_noise(0, 500, 3 * 32 * 32)
    print(f"     timing: 500 x 3072 values in {time.perf_counter() - t:.3f} s")
    print("all ok" if ok else "SELF-CHECK FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    raise SystemExit(_self_check())
