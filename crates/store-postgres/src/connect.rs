//! The connection pool's connections live on the runtime the store was opened on.
//!
//! A connection's socket belongs to the runtime it was made in, and its driver task runs
//! there. The server runs its background work (detection, webhooks, jobs) on a second runtime
//! of lower CPU priority; a connection first needed by that work would otherwise be made, and
//! driven, there, and every request that later borrowed it would wait on slower threads.

use std::future::Future;
use std::pin::Pin;

use deadpool_postgres::{Connect, Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio::runtime::Handle;
use tokio::task::JoinHandle;
use tokio_postgres::{Client, Config, Error, NoTls};

/// Makes connections on one runtime, whichever runtime asks.
struct HomeConnect {
    home: Handle,
}

impl Connect for HomeConnect {
    fn connect(
        &self,
        config: &Config,
    ) -> Pin<Box<dyn Future<Output = Result<(Client, JoinHandle<()>), Error>> + Send + '_>> {
        let config = config.clone();
        let home = self.home.clone();
        Box::pin(async move {
            let at_home = home.spawn({
                let config = config.clone();
                async move { open(&config).await }
            });
            match at_home.await {
                Ok(made) => made,
                // The home runtime is shutting down: connect where we are.
                Err(_) => open(&config).await,
            }
        })
    }
}

/// Connects, and drives the connection on the current runtime until the client is dropped.
pub(crate) async fn open(config: &Config) -> Result<(Client, JoinHandle<()>), Error> {
    let (client, connection) = config.connect(NoTls).await?;
    let driver = tokio::spawn(async move {
        if let Err(error) = connection.await {
            tracing::warn!(%error, "a PostgreSQL connection failed");
        }
    });
    Ok((client, driver))
}

/// A pool of at most `max_size` connections to `config`, made on the current runtime.
/// Must be called inside a Tokio runtime.
pub fn pool(config: Config, max_size: usize) -> Result<Pool, String> {
    let manager = Manager::from_connect(
        config,
        HomeConnect {
            home: Handle::current(),
        },
        ManagerConfig {
            recycling_method: RecyclingMethod::Fast,
        },
    );
    Pool::builder(manager)
        .max_size(max_size)
        .build()
        .map_err(|e| e.to_string())
}

#[cfg(all(test, feature = "testing"))]
mod tests {
    use super::*;

    /// A connection first asked for on another runtime is driven on the pool's own: it keeps
    /// working after that other runtime is gone.
    #[test]
    fn connections_live_on_the_pools_runtime() {
        let config: Config = crate::testing::server().parse().unwrap();
        let home = tokio::runtime::Runtime::new().unwrap();
        let pool = home.block_on(async { pool(config, 2).unwrap() });
        let other = tokio::runtime::Runtime::new().unwrap();
        let borrowed = pool.clone();
        other.block_on(async move {
            let client = borrowed.get().await.unwrap();
            let one: i32 = client.query_one("SELECT 1", &[]).await.unwrap().get(0);
            assert_eq!(one, 1);
        });
        other.shutdown_timeout(std::time::Duration::from_secs(5));
        home.block_on(async {
            let client = pool.get().await.unwrap();
            let two: i32 = client.query_one("SELECT 2", &[]).await.unwrap().get(0);
            assert_eq!(two, 2);
        });
    }
}
