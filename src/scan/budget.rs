//! A decode-memory budget: worker threads reserve the bytes an image will need (known from
//! its header) before decoding it, so several huge images never decode at once. An image
//! larger than the whole budget waits until it can run alone.

use std::sync::{Arc, Condvar, Mutex};

/// A shared pool of bytes.
#[derive(Debug, Clone)]
pub struct MemoryBudget {
    inner: Arc<(Mutex<u64>, Condvar)>,
    total: u64,
}

/// Bytes reserved from a [`MemoryBudget`]; returned when dropped.
#[derive(Debug)]
pub struct Permit {
    budget: MemoryBudget,
    bytes: u64,
}

impl MemoryBudget {
    /// A budget of `total` bytes.
    pub fn new(total: u64) -> Self {
        Self {
            inner: Arc::new((Mutex::new(total), Condvar::new())),
            total: total.max(1),
        }
    }

    /// The budget's size.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Reserve `bytes`, waiting until they are free. A request above the total reserves the
    /// whole budget (the image then decodes alone).
    pub fn acquire(&self, bytes: u64) -> Permit {
        let want = bytes.min(self.total);
        let (lock, cvar) = &*self.inner;
        let mut free = lock.lock().unwrap_or_else(|e| e.into_inner());
        while *free < want {
            free = cvar.wait(free).unwrap_or_else(|e| e.into_inner());
        }
        *free -= want;
        Permit {
            budget: self.clone(),
            bytes: want,
        }
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        let (lock, cvar) = &*self.budget.inner;
        let mut free = lock.lock().unwrap_or_else(|e| e.into_inner());
        *free += self.bytes;
        cvar.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU64, Ordering};

    #[test]
    fn never_more_than_the_total_in_use() {
        let budget = MemoryBudget::new(100);
        let in_use = Arc::new(AtomicU64::new(0));
        let peak = Arc::new(AtomicU64::new(0));
        std::thread::scope(|s| {
            for i in 0..8u64 {
                let (budget, in_use, peak) = (budget.clone(), in_use.clone(), peak.clone());
                s.spawn(move || {
                    let want = [30, 60, 250][i as usize % 3];
                    let p = budget.acquire(want);
                    let now = in_use.fetch_add(p.bytes, Ordering::SeqCst) + p.bytes;
                    peak.fetch_max(now, Ordering::SeqCst);
                    std::thread::sleep(std::time::Duration::from_millis(5));
                    in_use.fetch_sub(p.bytes, Ordering::SeqCst);
                });
            }
        });
        assert!(peak.load(Ordering::SeqCst) <= 100);
    }
}
