//! Outgoing QoS 1 and 2 messages sent and not yet acknowledged, by packet
//! identifier, with the order they were sent in (for re-sending on
//! reconnect [MQTT-4.4.0-1]).

use std::collections::HashMap;

use foldhash::fast::RandomState;
use komar_proto::PacketId;

use crate::message::Delivery;

/// Where an outgoing QoS 1/2 message is in its acknowledgement flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutState {
    /// QoS 1 PUBLISH sent, waiting for PUBACK.
    AwaitPubAck,
    /// QoS 2 PUBLISH sent, waiting for PUBREC.
    AwaitPubRec,
    /// PUBREL sent, waiting for PUBCOMP (the message itself is delivered).
    AwaitPubComp,
}

/// One message in flight.
#[derive(Debug, Clone)]
pub struct OutEntry {
    /// What was sent.
    pub delivery: Delivery,
    /// Acknowledgement state.
    pub state: OutState,
    /// Send order.
    pub seq: u64,
}

/// The in-flight window of one session.
#[derive(Debug)]
pub struct Inflight {
    map: HashMap<u16, OutEntry, RandomState>,
    next_pid: u16,
    seq: u64,
    bytes: usize,
}

impl Default for Inflight {
    fn default() -> Self {
        Inflight {
            map: HashMap::default(),
            next_pid: 1,
            seq: 0,
            bytes: 0,
        }
    }
}

impl Inflight {
    /// Messages in flight.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// True when nothing is in flight.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Payload bytes in flight (for `max_inflight_bytes`).
    pub fn bytes(&self) -> usize {
        self.bytes
    }

    /// Reserve a free packet identifier; `None` if all 65,535 are in use.
    pub fn alloc_id(&mut self) -> Option<PacketId> {
        for _ in 0..=u16::MAX {
            let candidate = PacketId::new(self.next_pid);
            self.next_pid = self.next_pid.checked_add(1).unwrap_or(1);
            if let Some(pid) = candidate {
                if !self.map.contains_key(&pid.get()) {
                    return Some(pid);
                }
            }
        }
        None
    }

    /// Record a message sent with `pid`; returns its send order.
    pub fn insert(&mut self, pid: PacketId, delivery: Delivery, state: OutState) -> u64 {
        self.seq += 1;
        self.bytes += delivery.cost();
        if let Some(old) = self.map.insert(
            pid.get(),
            OutEntry {
                delivery,
                state,
                seq: self.seq,
            },
        ) {
            self.bytes -= old.delivery.cost();
        }
        self.seq
    }

    /// The entry for `pid`.
    pub fn get_mut(&mut self, pid: PacketId) -> Option<&mut OutEntry> {
        self.map.get_mut(&pid.get())
    }

    /// Remove and return the entry for `pid`.
    pub fn remove(&mut self, pid: PacketId) -> Option<OutEntry> {
        let e = self.map.remove(&pid.get())?;
        self.bytes -= e.delivery.cost();
        Some(e)
    }

    /// Entries in the order they were first sent.
    pub fn in_send_order(&self) -> Vec<(PacketId, OutEntry)> {
        let mut v: Vec<(PacketId, OutEntry)> = self
            .map
            .iter()
            .filter_map(|(k, e)| PacketId::new(*k).map(|p| (p, e.clone())))
            .collect();
        v.sort_by_key(|(_, e)| e.seq);
        v
    }

    /// Take out the deliveries of every entry `pred` selects, in send
    /// order, with the packet ids they had.
    pub fn take_where(
        &mut self,
        mut pred: impl FnMut(&OutEntry) -> bool,
    ) -> Vec<(PacketId, Delivery)> {
        let ids: Vec<u16> = self
            .map
            .iter()
            .filter(|(_, e)| pred(e))
            .map(|(k, _)| *k)
            .collect();
        let mut taken: Vec<(u64, PacketId, Delivery)> = ids
            .into_iter()
            .filter_map(|k| Some((PacketId::new(k)?, self.map.remove(&k)?)))
            .map(|(pid, e)| {
                self.bytes -= e.delivery.cost();
                (e.seq, pid, e.delivery)
            })
            .collect();
        taken.sort_by_key(|(seq, _, _)| *seq);
        taken.into_iter().map(|(_, pid, d)| (pid, d)).collect()
    }

    /// Forget everything (clean start).
    pub fn clear(&mut self) {
        self.map.clear();
        self.bytes = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_skip_those_in_use_and_wrap() {
        let mut f = Inflight::default();
        let a = f.alloc_id().unwrap();
        assert_eq!(a.get(), 1);
        f.next_pid = u16::MAX;
        let b = f.alloc_id().unwrap();
        assert_eq!(b.get(), u16::MAX);
        assert_eq!(f.alloc_id().unwrap().get(), 1);
    }
}
