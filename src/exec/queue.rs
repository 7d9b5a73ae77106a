//! A channel bounded in bytes rather than in items: senders wait while the queued items
//! weigh more than the budget, so a peer sending large messages cannot grow the queue past
//! it. An item heavier than the whole budget is still admitted (alone, once the queue is
//! empty), so a big message never deadlocks.

use super::conn::Message;
use std::io;
use std::sync::Arc;
use tokio::sync::{mpsc, OwnedSemaphorePermit, Semaphore};

/// Bytes each queued item costs on top of its payload (bookkeeping), so that a flood of
/// empty messages is bounded too.
pub const ITEM_OVERHEAD: usize = 64;

/// Something that can be weighed in bytes for a [`byte_channel`].
pub trait Weigh {
    /// Bytes this item holds.
    fn weight(&self) -> usize;
}

impl Weigh for Message {
    fn weight(&self) -> usize {
        self.payload().len()
    }
}

impl Weigh for io::Result<Message> {
    fn weight(&self) -> usize {
        self.as_ref().map_or(0, Weigh::weight)
    }
}

/// The room a queued item holds until it is taken: its bytes, and its place when the number
/// of items is capped too.
struct Room {
    _bytes: OwnedSemaphorePermit,
    _place: Option<OwnedSemaphorePermit>,
}

/// The sending half of a [`byte_channel`].
pub struct ByteSender<T> {
    tx: mpsc::UnboundedSender<(T, Room)>,
    budget: Arc<Semaphore>,
    capacity: usize,
    /// Places left when the number of queued items is capped ([`byte_channel_capped`]).
    places: Option<Arc<Semaphore>>,
}

impl<T> Clone for ByteSender<T> {
    fn clone(&self) -> Self {
        ByteSender {
            tx: self.tx.clone(),
            budget: self.budget.clone(),
            capacity: self.capacity,
            places: self.places.clone(),
        }
    }
}

/// The receiving half of a [`byte_channel`].
pub struct ByteReceiver<T> {
    rx: mpsc::UnboundedReceiver<(T, Room)>,
}

/// Room for one item of a known weight, reserved by [`ByteSender::reserve`].
pub struct BytePermit<T> {
    tx: mpsc::UnboundedSender<(T, Room)>,
    room: Room,
}

/// A channel that holds at most `capacity` bytes of items (plus [`ITEM_OVERHEAD`] each), or
/// a single item of any size.
pub fn byte_channel<T: Weigh>(capacity: usize) -> (ByteSender<T>, ByteReceiver<T>) {
    let capacity = capacity.clamp(ITEM_OVERHEAD, u32::MAX as usize);
    let (tx, rx) = mpsc::unbounded_channel();
    (
        ByteSender {
            tx,
            budget: Arc::new(Semaphore::new(capacity)),
            capacity,
            places: None,
        },
        ByteReceiver { rx },
    )
}

/// A [`byte_channel`] that also holds at most `max_items` items (at least one), for queues
/// whose length in messages is an option of its own (`--queue-len`).
pub fn byte_channel_capped<T: Weigh>(
    capacity: usize,
    max_items: usize,
) -> (ByteSender<T>, ByteReceiver<T>) {
    let (mut tx, rx) = byte_channel(capacity);
    let places = max_items.clamp(1, Semaphore::MAX_PERMITS);
    tx.places = Some(Arc::new(Semaphore::new(places)));
    (tx, rx)
}

impl<T: Weigh> ByteSender<T> {
    /// Waits for room for an item of `weight` bytes; `None` once the receiver is gone.
    /// Cancel-safe: dropping the future gives nothing up.
    pub async fn reserve(&self, weight: usize) -> Option<BytePermit<T>> {
        let cost = weight.saturating_add(ITEM_OVERHEAD).min(self.capacity) as u32;
        let room = async {
            // A place first, then the bytes: a sender waiting for bytes holds one place only.
            let place = match &self.places {
                Some(places) => Some(places.clone().acquire_owned().await.ok()?),
                None => None,
            };
            let bytes = self.budget.clone().acquire_many_owned(cost).await.ok()?;
            Some(Room {
                _bytes: bytes,
                _place: place,
            })
        };
        let room = tokio::select! {
            r = room => r?,
            () = self.tx.closed() => return None,
        };
        Some(BytePermit {
            tx: self.tx.clone(),
            room,
        })
    }

    /// True once the receiver is gone.
    pub fn is_closed(&self) -> bool {
        self.tx.is_closed()
    }

    /// Sends `item` once there is room for it; gives it back if the receiver is gone.
    pub async fn send(&self, item: T) -> Result<(), T> {
        match self.reserve(item.weight()).await {
            Some(p) => p.send(item),
            None => Err(item),
        }
    }

    /// Resolves when the receiver is gone.
    pub async fn closed(&self) {
        self.tx.closed().await
    }
}

impl<T> BytePermit<T> {
    /// Queues `item` in the room reserved for it; gives it back if the receiver is gone.
    pub fn send(self, item: T) -> Result<(), T> {
        self.tx
            .send((item, self.room))
            .map_err(|mpsc::error::SendError((item, _))| item)
    }
}

impl<T> ByteReceiver<T> {
    /// The next item; `None` once every sender is gone and the queue is empty. Taking an
    /// item frees its bytes for the senders.
    pub async fn recv(&mut self) -> Option<T> {
        self.rx.recv().await.map(|(item, _room)| item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use futures::FutureExt;

    fn binary(n: usize) -> Message {
        Message::Binary(Bytes::from(vec![7u8; n]))
    }

    #[tokio::test]
    async fn senders_wait_while_the_queued_bytes_exceed_the_budget() {
        let (tx, mut rx) = byte_channel::<Message>(1000);
        tx.send(binary(600)).await.unwrap();
        // 600 + 64 queued: another 600 + 64 does not fit.
        assert!(tx.send(binary(600)).now_or_never().is_none());
        assert_eq!(rx.recv().await.unwrap(), binary(600));
        tx.send(binary(600)).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), binary(600));
    }

    #[tokio::test]
    async fn an_item_larger_than_the_budget_passes_alone() {
        let (tx, mut rx) = byte_channel::<Message>(1000);
        tx.send(binary(10)).await.unwrap();
        // Waits for the queue to empty, then takes the whole budget.
        assert!(tx.send(binary(5000)).now_or_never().is_none());
        assert_eq!(rx.recv().await.unwrap(), binary(10));
        tx.send(binary(5000)).await.unwrap();
        assert!(tx.send(binary(0)).now_or_never().is_none());
        assert_eq!(rx.recv().await.unwrap(), binary(5000));
        tx.send(binary(0)).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), binary(0));
    }

    #[tokio::test]
    async fn a_capped_channel_bounds_the_number_of_items_too() {
        let (tx, mut rx) = byte_channel_capped::<Message>(1000, 2);
        tx.send(binary(1)).await.unwrap();
        tx.send(binary(1)).await.unwrap();
        // 130 bytes of 1000 queued, but both places are taken.
        assert!(tx.send(binary(1)).now_or_never().is_none());
        assert_eq!(rx.recv().await.unwrap(), binary(1));
        tx.send(binary(2)).await.unwrap();
        assert_eq!(rx.recv().await.unwrap(), binary(1));
        assert_eq!(rx.recv().await.unwrap(), binary(2));
        // The bytes still bound it: with 800 + 64 queued, 100 + 64 more do not fit although
        // a place is free.
        tx.send(binary(800)).await.unwrap();
        assert!(tx.send(binary(100)).now_or_never().is_none());
        assert_eq!(rx.recv().await.unwrap(), binary(800));
        tx.send(binary(100)).await.unwrap();
    }

    #[tokio::test]
    async fn a_sender_learns_that_the_receiver_is_gone() {
        let (tx, rx) = byte_channel::<Message>(100);
        tx.send(binary(100)).await.unwrap();
        let waiting = tx.send(binary(1));
        drop(rx);
        assert_eq!(waiting.await, Err(binary(1)));
    }
}
