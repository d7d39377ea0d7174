//! One playground's sampling run on whichever executor the engine had when it was made.

use super::{js_err, parse_sampler, Shared};
use crate::error::InputError;
use crate::exec::{Executor, View};
use crate::scheduler::Plan;
use std::cell::RefCell;
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

    /// Starts a run: `sampler` "ddpm" or "ddim", `steps` 1..=T, `eta` in [0, 1] (DDIM),
    /// `variance` "fixed_small" or "fixed_large" (DDPM), from the seeded x_T (the same for
    /// every sampler and backend). Returns the timesteps the run will visit.
    pub fn start(
        &mut self,
        sampler: &str,
        steps: u32,
        eta: f32,
        variance: &str,
        seed: u32,
    ) -> Result<Vec<u32>, JsValue> {
        let sampler = parse_sampler(sampler, eta, variance).map_err(js_err)?;
        let plan = self
            .shared
            .schedule
            .plan(sampler, steps as usize)
            .map_err(js_err)?;
        let timesteps = plan.timesteps.clone();
        self.sampler.start(seed as u64).map_err(js_err)?;
        self.seed = seed as u64;
        *self.plan.borrow_mut() = Some(plan);
        Ok(timesteps)
    }

    /// Step `index` of the run. On WebGPU it returns once submitted (reads wait for the GPU);
    /// on the CPU it returns when the step is done.
    pub fn step(&self, index: u32) -> Result<(), JsValue> {
        let plan = self.plan.borrow();
        let plan = plan
            .as_ref()
            .ok_or_else(|| js_err(InputError::NotStarted))?;
        self.sampler
            .step(
                &self.shared.checkpoint.unet,
                plan,
                index as usize,
                self.seed,
            )
            .map_err(js_err)
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
