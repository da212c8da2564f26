use tokio::sync::oneshot;

use super::{StoreError, Tx};

/// One unit of work for a backend thread: run inside a transaction, then be
/// told whether that transaction committed.
pub trait Job: Send {
    /// Runs the work; returns whether its changes should be kept. May be called
    /// again after a retryable failure.
    fn run(&mut self, tx: &mut dyn Tx) -> bool;
    /// Called once the transaction's fate is known: `Ok` means it committed.
    fn finish(self: Box<Self>, committed: Result<(), StoreError>);
}

/// A closure with a typed answer sent back to the awaiting task.
pub(super) struct Typed<F, T, E> {
    f: F,
    result: Option<Result<T, E>>,
    reply: oneshot::Sender<Result<T, E>>,
}

impl<F, T, E> Typed<F, T, E> {
    pub(super) fn new(f: F) -> (Self, oneshot::Receiver<Result<T, E>>) {
        let (reply, answer) = oneshot::channel();
        (
            Typed {
                f,
                result: None,
                reply,
            },
            answer,
        )
    }
}

impl<F, T, E> Job for Typed<F, T, E>
where
    F: FnMut(&mut dyn Tx) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn run(&mut self, tx: &mut dyn Tx) -> bool {
        let result = (self.f)(tx);
        let keep = result.is_ok();
        self.result = Some(result);
        keep
    }

    fn finish(self: Box<Self>, committed: Result<(), StoreError>) {
        let answer = match (committed, self.result) {
            (Ok(()), Some(result)) => result,
            (Ok(()), None) => Err(E::from(StoreError::Backend(
                "job finished without running".into(),
            ))),
            (Err(e), _) => Err(E::from(e)),
        };
        // The caller may have gone away (client disconnected); nothing to do then.
        let _ = self.reply.send(answer);
    }
}
