//! Time in the browser: `performance.now()`, a timer future, and a future with a deadline (the
//! backend probe stops waiting for a GPU pass that has already lost).

use std::future::Future;
use std::task::Poll;
use wasm_bindgen::{JsCast, JsValue};

/// The global's method `name` (window or worker), if it has one.
fn global_fn(name: &str) -> Option<(JsValue, js_sys::Function)> {
    let global: JsValue = js_sys::global().into();
    let f = js_sys::Reflect::get(&global, &name.into()).ok()?;
    Some((global, f.dyn_into().ok()?))
}

/// `performance.now()` where there is one (windows and workers), else `Date.now()`.
pub fn now_ms() -> f64 {
    let perf = js_sys::Reflect::get(&js_sys::global(), &"performance".into())
        .ok()
        .filter(JsValue::is_object);
    let now = perf.and_then(|perf| {
        let f: js_sys::Function = js_sys::Reflect::get(&perf, &"now".into())
            .ok()?
            .dyn_into()
            .ok()?;
        f.call0(&perf).ok()?.as_f64()
    });
    now.unwrap_or_else(js_sys::Date::now)
}

/// Resolves after `ms` milliseconds (`setTimeout`); at once where there is no timer.
async fn sleep(ms: f64) {
    let Some((global, set_timeout)) = global_fn("setTimeout") else {
        return;
    };
    let promise = js_sys::Promise::new(&mut |resolve, _| {
        let _ = set_timeout.call2(&global, &resolve, &JsValue::from_f64(ms));
    });
    let _ = wasm_bindgen_futures::JsFuture::from(promise).await;
}

/// `fut`'s output if it is ready within `ms` milliseconds, else `None` (`fut` is dropped; work
/// it started elsewhere, e.g. on a GPU queue, goes on).
pub async fn within<F: Future>(ms: f64, fut: F) -> Option<F::Output> {
    let mut fut = std::pin::pin!(fut);
    let mut timer = std::pin::pin!(sleep(ms));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(v) = fut.as_mut().poll(cx) {
            return Poll::Ready(Some(v));
        }
        if timer.as_mut().poll(cx).is_ready() {
            return Poll::Ready(None);
        }
        Poll::Pending
    })
    .await
}
