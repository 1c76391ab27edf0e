//! Bounded concurrency across hosts.
//!
//! Every fleet-wide operation (probe, check, a wave's steps) goes through [`for_each_host`]
//! so that at most `limit` hosts are worked on at once, whatever the fleet size. Results come
//! back in host order, so reports and the journal read the same on every run, while progress
//! is reported as hosts finish so a slow host never hides the others' progress.

use std::future::Future;

use futures::StreamExt;

use crate::inventory::Host;

/// Default number of hosts worked on at once.
///
/// Preflight (probe/check) is one short round trip per host and mostly waits on the network,
/// so the limit is sized like pssh (32) rather than Ansible's `forks = 5`, which makes a
/// 200-host preflight take minutes. Each host costs one `ssh` master process and a few file
/// descriptors locally, so 32 stays far below per-process limits. Waves that change hosts are
/// bounded separately by the runbook's wave sizes, not by this.
pub const DEFAULT_LIMIT: usize = 32;

/// Progress of a [`for_each_host_with_progress`] run, reported each time a host finishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Progress<'a> {
    /// Hosts finished so far, including this one.
    pub done: usize,
    pub total: usize,
    /// The host that just finished.
    pub host: &'a Host,
}

/// Runs `f` for every host, at most `limit` at once (a `limit` of 0 is treated as 1), and
/// returns each host with its result, in the order of `hosts`.
pub async fn for_each_host<T, F, Fut>(hosts: &[Host], limit: usize, f: F) -> Vec<(Host, T)>
where
    F: Fn(Host) -> Fut,
    Fut: Future<Output = T>,
{
    for_each_host_with_progress(hosts, limit, f, |_| {}).await
}

/// Like [`for_each_host`], calling `progress` (on the caller's task, never concurrently) each
/// time a host finishes, e.g. to print `12/40 web-3` on stderr.
pub async fn for_each_host_with_progress<T, F, Fut, P>(
    hosts: &[Host],
    limit: usize,
    f: F,
    mut progress: P,
) -> Vec<(Host, T)>
where
    F: Fn(Host) -> Fut,
    Fut: Future<Output = T>,
    P: FnMut(Progress<'_>),
{
    let total = hosts.len();
    let f = &f;
    // `buffer_unordered` polls at most `limit` futures at once and starts the next host as
    // soon as any finishes; it never spawns, so `f` may borrow from the caller.
    let mut running = futures::stream::iter(hosts.iter().enumerate())
        .map(|(i, host)| async move { (i, f(host.clone()).await) })
        .buffer_unordered(limit.max(1));
    let mut results: Vec<Option<T>> = std::iter::repeat_with(|| None).take(total).collect();
    let mut done = 0;
    while let Some((i, result)) = running.next().await {
        done += 1;
        progress(Progress { done, total, host: &hosts[i] });
        results[i] = Some(result);
    }
    hosts
        .iter()
        .cloned()
        .zip(results)
        .map(|(host, result)| (host, result.expect("buffer_unordered yields every host exactly once")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn hosts(n: usize) -> Vec<Host> {
        (0..n).map(|i| Host::named(format!("h{i}"))).collect()
    }

    #[tokio::test]
    async fn results_in_host_order_and_concurrency_bounded() {
        let hosts = hosts(20);
        let now = AtomicUsize::new(0);
        let peak = AtomicUsize::new(0);
        let mut seen = Vec::new();
        let out = for_each_host_with_progress(
            &hosts,
            4,
            |h| {
                let (now, peak) = (&now, &peak);
                async move {
                    let cur = now.fetch_add(1, Ordering::SeqCst) + 1;
                    peak.fetch_max(cur, Ordering::SeqCst);
                    // Later hosts finish first, so completion order differs from host order.
                    let n: u64 = h.name[1..].parse().unwrap();
                    tokio::time::sleep(Duration::from_millis(40 - 2 * n)).await;
                    now.fetch_sub(1, Ordering::SeqCst);
                    h.name.clone()
                }
            },
            |p| seen.push((p.done, p.total, p.host.name.clone())),
        )
        .await;
        assert_eq!(out.len(), 20);
        for (h, r) in &out {
            assert_eq!(&h.name, r);
        }
        assert_eq!(out.iter().map(|(h, _)| h).collect::<Vec<_>>(), hosts.iter().collect::<Vec<_>>());
        assert!(peak.load(Ordering::SeqCst) <= 4, "peak {}", peak.load(Ordering::SeqCst));
        assert_eq!(peak.load(Ordering::SeqCst), 4);
        assert_eq!(seen.len(), 20);
        assert_eq!(seen.iter().map(|s| s.0).collect::<Vec<_>>(), (1..=20).collect::<Vec<_>>());
        assert!(seen.iter().all(|s| s.1 == 20));
    }

    #[tokio::test]
    async fn zero_limit_still_runs_and_empty_is_empty() {
        let out = for_each_host(&hosts(3), 0, |h| async move { h.name.len() }).await;
        assert_eq!(out.len(), 3);
        let none: Vec<(Host, ())> = for_each_host(&[], 5, |_| async {}).await;
        assert!(none.is_empty());
    }
}
