//! Decorators for these tests: [`Gated`] holds and fails batches on demand;
//! [`Bare`] changes nothing. Their `Decorator` impls live here, apart from the
//! tests: with `Decorator` in scope, a call like `group.balance(..)` would not know
//! which trait's method it means.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use actors::store::{BatchResult, Decorator, Store, StoreError, WriteOp};
use tokio::sync::Semaphore;

/// What [`Gated`] does with a batch.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// Forward it.
    Pass,
    /// Fail the transaction: the outer `Err`.
    Fail,
    /// Panic.
    Panic,
}

/// Forwards to a real store; `apply_batch` can be held at a gate until [`open`],
/// and follows a script of faults (then passes).
///
/// [`open`]: Gated::open
pub struct Gated {
    inner: Arc<dyn Store>,
    gate: Option<Semaphore>,
    entered: AtomicUsize,
    faults: Mutex<VecDeque<Fault>>,
}

impl Gated {
    pub fn new(inner: Arc<dyn Store>, closed: bool) -> Arc<Self> {
        Arc::new(Self {
            inner,
            gate: closed.then(|| Semaphore::new(0)),
            entered: AtomicUsize::new(0),
            faults: Mutex::new(VecDeque::new()),
        })
    }

    pub fn script(&self, faults: impl IntoIterator<Item = Fault>) {
        self.faults.lock().unwrap().extend(faults);
    }

    /// Lets every batch, present and future, through.
    pub fn open(&self) {
        if let Some(gate) = &self.gate {
            gate.add_permits(Semaphore::MAX_PERMITS / 2);
        }
    }

    /// How many batches have reached the store.
    pub fn entered(&self) -> usize {
        self.entered.load(Ordering::SeqCst)
    }
}

/// A decorator that changes nothing: all that a decorator which forgets a method
/// does with it.
pub struct Bare(pub Arc<dyn Store>);

#[async_trait::async_trait]
impl Decorator for Gated {
    fn inner(&self) -> &dyn Store {
        &*self.inner
    }

    async fn apply_batch(&self, ops: &[WriteOp]) -> BatchResult {
        self.entered.fetch_add(1, Ordering::SeqCst);
        if let Some(gate) = &self.gate {
            gate.acquire().await.expect("the gate stays").forget();
        }
        let fault = self
            .faults
            .lock()
            .unwrap()
            .pop_front()
            .unwrap_or(Fault::Pass);
        match fault {
            Fault::Pass => self.inner.apply_batch(ops).await,
            Fault::Fail => Err(StoreError::Unavailable("injected".into())),
            Fault::Panic => panic!("injected panic in apply_batch"),
        }
    }
}

impl Decorator for Bare {
    fn inner(&self) -> &dyn Store {
        &*self.0
    }
}
