//! One playground's sampling run on whichever executor the engine had when it was made.

use super::anatomy::anatomy_object;
use super::{js_err, parse_sampler, Shared};
use crate::error::InputError;
use crate::exec::{Executor, View};
use crate::scheduler::Plan;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::prelude::*;

/// One playground's sampling run: its plan, seed and buffers (GPU or CPU).
#[wasm_bindgen]
pub struct Session {
    pub(super) shared: Rc<Shared>,
    pub(super) sampler: Rc<dyn Executor>,
    /// `"webgpu"` or `"cpu"`: sessions stay where they were made when the engine switches.
    pub(super) backend: &'static str,
    pub(super) plan: Rc<RefCell<Option<Plan>>>,
    pub(super) seed: u64,
    /// The index of the latest step run since `start` / `setSample` (what `readStepParts` reads).
    pub(super) last_step: Cell<Option<usize>>,
    /// Inpainting's resample count while `setInpaint` is in force (the known image and mask
    /// live in the executor).
    pub(super) inpaint: Cell<Option<usize>>,
    /// Network evaluations since the latest `start`.
    pub(super) evaluations: Cell<usize>,
}

#[wasm_bindgen]
impl Session {
    pub fn batch(&self) -> u32 {
        self.sampler.batch() as u32
    }

    /// `"webgpu"` or `"cpu"`: where this session's steps run.
    pub fn backend(&self) -> String {
        self.backend.to_string()
    }

    /// Starts a run: `sampler` "ddpm", "ddim", "dpmpp2m" (DPM-Solver++(2M)) or "ddim-inverse"
    /// (DDIM inversion), `steps` 1..=T, `eta` in [0, 1] (DDIM), `variance` "fixed_small" or
    /// "fixed_large" (DDPM), from the seeded x_T (the same for every sampler and backend).
    /// Returns the timesteps the run will visit (ascending for "ddim-inverse").
    ///
    /// To run from a given x_T (e.g. an inverted image or a `slerpNoise`), call `setSample(xT)`
    /// after `start`. To invert images: `start("ddim-inverse", steps, 0, "fixed_small", 0)`,
    /// `setSample(x0)`, `step(i)` for every i, then `readTensor("sample")` is x_T.
    /// With `setInpaint` in force, the sampler must be "ddpm" or "ddim" (`BadInput` otherwise)
    /// and the known pixels of the seeded x_T are replaced by their draw at the first timestep.
    ///
    /// `clip` (optional, as in `Engine.timesteps`): "checkpoint", "off", "clip" or "recompute".
    pub fn start(
        &mut self,
        sampler: &str,
        steps: u32,
        eta: f32,
        variance: &str,
        seed: u32,
        clip: Option<String>,
    ) -> Result<Vec<u32>, JsValue> {
        let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
        let clipping = super::parse_clipping(clip.as_deref()).map_err(js_err)?;
        let plan = self
            .shared
            .schedule
            .plan_clipped(sampler, steps as usize, clipping)
            .map_err(js_err)?;
        if let Some(resample) = self.inpaint.get() {
            crate::inpaint::check(&plan, resample).map_err(js_err)?;
        }
        let timesteps = plan.timesteps.clone();
        self.sampler.start(seed as u64).map_err(js_err)?;
        if self.inpaint.get().is_some() {
            crate::inpaint::start(
                self.sampler.as_ref(),
                &self.shared.schedule,
                &plan,
                seed as u64,
            )
            .map_err(js_err)?;
        }
        self.seed = seed as u64;
        *self.plan.borrow_mut() = Some(plan);
        self.last_step.set(None);
        self.evaluations.set(0);
        Ok(timesteps)
    }

    /// Replaces x with `x` ((batch, C, H, W) floats, e.g. an x_t recorded at some step of an
    /// earlier run with the same settings), so that the steps from there on run from it: with the
    /// same seed they repeat that run, with another they branch off it (fresh noise per image).
    #[wasm_bindgen(js_name = setSample)]
    pub fn set_sample(&self, x: Vec<f32>) -> Result<(), JsValue> {
        self.sampler.set_sample(&x).map_err(js_err)?;
        self.last_step.set(None);
        Ok(())
    }

    /// Inpainting (RePaint) for the runs started from now on: `x0` is the known image, (batch,
    /// C, H, W) floats in [-1, 1] (this session's batch); `mask` is one value per pixel, (H, W)
    /// for every image or (batch, H, W), 1 = keep the known pixel, 0 = fill (fractions blend);
    /// `resample` 1 = plain replacement, up to 100 = RePaint's resamplings per step (jump
    /// length 1: each step but the last runs that many times, so a run of N steps makes
    /// (N - 1) * resample + 1 network evaluations). Works with "ddpm" and "ddim" on both
    /// backends. After the last step the known pixels equal x0 (DDPM; DDIM when the config's
    /// set_alpha_to_one is true, else up to alpha-bar_0's noise). `BadInput` for wrong lengths,
    /// mask values outside [0, 1] or a resample count outside 1..=100.
    #[wasm_bindgen(js_name = setInpaint)]
    pub fn set_inpaint(&self, x0: Vec<f32>, mask: Vec<f32>, resample: u32) -> Result<(), JsValue> {
        let resample = resample as usize;
        if !(1..=crate::inpaint::MAX_RESAMPLE).contains(&resample) {
            return Err(js_err(InputError::OutOfRange {
                what: "setInpaint's resample",
                found: resample.to_string(),
                accepted: format!("1 (no resampling) to {}", crate::inpaint::MAX_RESAMPLE),
            }));
        }
        let batch = self.sampler.batch();
        let [c, h, w] = self.shared.checkpoint.unet.sample_shape();
        let plane = h * w;
        let masks = if mask.len() == plane { 1 } else { batch };
        let full = crate::inpaint::expand_mask(&mask, masks, batch, c, plane).map_err(js_err)?;
        self.sampler.set_known(&x0, &full).map_err(js_err)?;
        self.inpaint.set(Some(resample));
        Ok(())
    }

    /// Ends inpainting: runs started from now on sample freely.
    #[wasm_bindgen(js_name = clearInpaint)]
    pub fn clear_inpaint(&self) {
        self.inpaint.set(None);
    }

    /// Network (UNet) evaluations since the latest `start`: one per step, or `resample` per
    /// inpainting step but the last.
    #[wasm_bindgen(js_name = networkEvaluations)]
    pub fn network_evaluations(&self) -> u32 {
        self.evaluations.get() as u32
    }

    /// Step `index` of the started run in the posts' terms, from the engine's scheduler: the
    /// coefficients the update kernel runs with (`prevFromX0`, `prevFromSample`, `prevFromEps`,
    /// `sigma`, ...), alpha-bar, beta_t, the DDPM posterior and DDIM's sigma_t(eta) factors
    /// (see `src/web/anatomy.rs` for every key).
    #[wasm_bindgen(js_name = stepAnatomy)]
    pub fn step_anatomy(&self, index: u32) -> Result<js_sys::Object, JsValue> {
        let plan = self.plan.borrow();
        let plan = plan
            .as_ref()
            .ok_or_else(|| js_err(InputError::NotStarted))?;
        anatomy_object(&self.shared.schedule, plan, index as usize)
    }

    /// The latest step's update for image `image` of the batch, split into what the step
    /// anatomy draws: `{index, xt, eps, x0, z, x0Term, midTerm, noiseTerm, prev}`, each a
    /// Float32Array of (C, H, W) (`z` is empty when the step adds no noise). `prev` is the
    /// update's x_{t-1}; `x0Term + midTerm + noiseTerm` sums to it.
    #[wasm_bindgen(js_name = readStepParts)]
    pub fn read_step_parts(&self, image: u32) -> js_sys::Promise {
        let sampler = self.sampler.clone();
        let plan = self.plan.clone();
        let last = self.last_step.get();
        let schedule_owner = self.shared.clone();
        let seed = self.seed;
        wasm_bindgen_futures::future_to_promise(async move {
            let index = last.ok_or_else(|| js_err(InputError::NoStep))?;
            let batch = sampler.batch();
            let image = image as usize;
            if image >= batch {
                return Err(js_err(InputError::Image {
                    index: image,
                    batch,
                }));
            }
            let anatomy = {
                let plan = plan.borrow();
                let plan = plan
                    .as_ref()
                    .ok_or_else(|| js_err(InputError::NotStarted))?;
                if plan.sampler == crate::scheduler::Sampler::DpmSolverPP {
                    // Its parts would need the previous step's x_0, which the executor has
                    // already overwritten.
                    return Err(js_err(InputError::Unknown {
                        what: "sampler for readStepParts",
                        found: plan.sampler.name().into(),
                        accepted: "\"ddpm\", \"ddim\" or \"ddim-inverse\"",
                    }));
                }
                schedule_owner
                    .schedule
                    .anatomy(plan, index)
                    .ok_or_else(|| {
                        js_err(InputError::Step {
                            index,
                            steps: plan.coeffs.len(),
                        })
                    })?
            };
            let (x_t, model) = sampler.read_last_step().await.map_err(js_err)?;
            let len = sampler.sample_len() / batch;
            let range = image * len..(image + 1) * len;
            let coeffs = anatomy.coeffs;
            let mut z = Vec::new();
            if coeffs.needs_noise() {
                // The same stream the executor drew this image's noise from for this step.
                z = vec![0.0; len];
                crate::rng::fill_gaussian(
                    seed,
                    crate::rng::step_noise_purpose(index),
                    (sampler.first_sample() + image) as u64,
                    &mut z,
                );
            }
            let parts = coeffs.parts(
                &x_t[range.clone()],
                &model[range.clone()],
                &z,
                anatomy.eps_from_sample,
                anatomy.eps_from_model,
            );
            let out = js_sys::Object::new();
            let f32s = |v: &[f32]| JsValue::from(js_sys::Float32Array::from(v));
            for (key, value) in [
                ("index", JsValue::from_f64(index as f64)),
                ("xt", f32s(&x_t[range])),
                ("eps", f32s(&parts.eps)),
                ("x0", f32s(&parts.x0)),
                ("z", f32s(&z)),
                ("x0Term", f32s(&parts.x0_term)),
                ("midTerm", f32s(&parts.mid_term)),
                ("noiseTerm", f32s(&parts.noise_term)),
                ("prev", f32s(&parts.prev)),
            ] {
                js_sys::Reflect::set(&out, &key.into(), &value)?;
            }
            Ok(out.into())
        })
    }

    /// Step `index` of the run (with inpainting: the step, the known pixels' replacement and
    /// its resampling rounds). On WebGPU it returns once submitted (reads wait for the GPU);
    /// on the CPU it returns when the step is done.
    pub fn step(&self, index: u32) -> Result<(), JsValue> {
        super::debug_trap_check();
        let plan = self.plan.borrow();
        let plan = plan
            .as_ref()
            .ok_or_else(|| js_err(InputError::NotStarted))?;
        let unet = &self.shared.checkpoint.unet;
        let made = match self.inpaint.get() {
            Some(resample) => crate::inpaint::step(
                self.sampler.as_ref(),
                unet,
                &self.shared.schedule,
                plan,
                index as usize,
                self.seed,
                resample,
            )
            .map_err(js_err)?,
            None => {
                self.sampler
                    .step(unet, plan, index as usize, self.seed)
                    .map_err(js_err)?;
                1
            }
        };
        self.evaluations.set(self.evaluations.get() + made);
        self.last_step.set(Some(index as usize));
        Ok(())
    }

    /// Width and height of the RGBA grid.
    #[wasm_bindgen(js_name = gridSize)]
    pub fn grid_size(&self) -> Vec<u32> {
        let (w, h) = self.sampler.grid_size();
        vec![w as u32, h as u32]
    }

    /// The images as one RGBA grid: `view` "sample" (x_t) or "x0" (predicted x_0). Resolves
    /// once the submitted steps are done, so awaiting it paces a run one step at a time.
    #[wasm_bindgen(js_name = readRgba)]
    pub fn read_rgba(&self, view: String) -> js_sys::Promise {
        self.read_view(view, |s, v| async move {
            let bytes = s.read_rgba(v).await?;
            Ok(js_sys::Uint8ClampedArray::from(bytes.as_slice()).into())
        })
    }

    /// x_t (`view` "sample") or the predicted x_0 ("x0") as raw floats, (N, C, H, W).
    #[wasm_bindgen(js_name = readTensor)]
    pub fn read_tensor(&self, view: String) -> js_sys::Promise {
        self.read_view(view, |s, v| async move {
            let data = s.read(v).await?;
            Ok(js_sys::Float32Array::from(data.as_slice()).into())
        })
    }
}

impl Session {
    /// A promise of `read(executor, view)`, rejected with a named error.
    fn read_view<F, Fut>(&self, view: String, read: F) -> js_sys::Promise
    where
        F: FnOnce(Rc<dyn Executor>, View) -> Fut + 'static,
        Fut: std::future::Future<Output = Result<JsValue, crate::Error>>,
    {
        let sampler = self.sampler.clone();
        wasm_bindgen_futures::future_to_promise(async move {
            let view = View::parse(&view).map_err(js_err)?;
            read(sampler, view).await.map_err(js_err)
        })
    }
}
