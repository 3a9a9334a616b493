//! The closed loop: `concurrency` workers, each launching its next instance as soon as its
//! last one is gone, until the point's launches are used up. Latency is launch → ready.
use std::sync::atomic::{AtomicU32, Ordering};

use isolators::Error;
use reports::{BurstLoad, BurstPoint};

use super::{guarded, settle, Limits, Point, Pool};

/// Measures one closed-loop point of `pool`'s isolator at `concurrency` in flight.
pub fn measure(
    pool: &mut Pool,
    concurrency: u32,
    limits: &Limits<'_>,
) -> Result<BurstPoint, Error> {
    let name = pool.name().to_string();
    let launchers = pool.launchers(concurrency as usize)?;
    let settle_before = settle::counts();
    let point = Point::new(limits);
    let claimed = AtomicU32::new(0);
    std::thread::scope(|scope| {
        for launcher in launchers.iter_mut() {
            let (point, claimed) = (&point, &claimed);
            scope.spawn(move || {
                guarded(point, || {
                    while !point.should_stop()
                        && claimed.fetch_add(1, Ordering::SeqCst) < limits.launches
                    {
                        point.cycle(launcher, None);
                    }
                })
            });
        }
    });
    Ok(point.finish(&name, BurstLoad::Closed { concurrency }, settle_before))
}
