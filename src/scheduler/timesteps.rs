//! diffusers' `set_timesteps` (shared verbatim by `DDPMScheduler` and `DDIMScheduler`),
//! reproduced with numpy's exact floating-point behaviour.
//!
//! The numpy details that decide the integers:
//!
//! * `np.round` rounds halves to even (`linspace` with `T - 1 = 999, N = 3` gives 499.5 -> 500).
//! * `np.linspace(0, T - 1, N)` is `i * ((T - 1) / (N - 1))` in f64, with the last element
//!   overwritten by `T - 1` exactly; for `N = 1` it is `[0]`.
//! * `np.arange(T, 0, -T / N)` (trailing spacing) has `ceil(T / (T / N))` elements, which is
//!   `N + 1` for some `N` (e.g. `T = 1000, N = 61`) because `T / (T / N)` rounds to slightly
//!   above `N`; the extra element rounds to 0 and becomes timestep -1 after the `- 1`. Element
//!   `i` is `start + i * delta` with `delta = (start + step) - start` (numpy's fill loop).

use super::config::TimestepSpacing;

/// The timesteps diffusers' `set_timesteps(n)` produces, in sampling order (descending), as
/// signed integers because diffusers can produce out-of-range values (see module docs).
///
/// `n` must be in `1..=num_train_timesteps` (checked by the caller).
pub(super) fn diffusers_timesteps(
    num_train_timesteps: usize,
    n: usize,
    spacing: TimestepSpacing,
    steps_offset: u32,
) -> Vec<i64> {
    let t_total = num_train_timesteps;
    match spacing {
        TimestepSpacing::Leading => {
            // Integer maths throughout: arange(N) * (T // N), reversed, + steps_offset.
            let step_ratio = (t_total / n) as i64;
            (0..n as i64)
                .rev()
                .map(|i| i * step_ratio + i64::from(steps_offset))
                .collect()
        }
        TimestepSpacing::Linspace => {
            let last = (t_total - 1) as f64;
            let values: Vec<f64> = if n == 1 {
                vec![0.0]
            } else {
                let step = last / (n - 1) as f64;
                (0..n)
                    .map(|i| if i == n - 1 { last } else { i as f64 * step })
                    .collect()
            };
            values
                .into_iter()
                .rev()
                .map(|v| v.round_ties_even() as i64)
                .collect()
        }
        TimestepSpacing::Trailing => {
            let start = t_total as f64;
            let step = -(t_total as f64 / n as f64);
            let len = numpy_arange_len(start, 0.0, step);
            let delta = (start + step) - start;
            (0..len)
                .map(|i| {
                    let v = match i {
                        0 => start,
                        1 => start + step,
                        _ => start + i as f64 * delta,
                    };
                    v.round_ties_even() as i64 - 1
                })
                .collect()
        }
    }
}

/// Number of elements of `np.arange(start, stop, step)`: `ceil((stop - start) / step)`, at least 0.
fn numpy_arange_len(start: f64, stop: f64, step: f64) -> usize {
    let len = ((stop - start) / step).ceil();
    if len > 0.0 {
        len as usize
    } else {
        0
    }
}
