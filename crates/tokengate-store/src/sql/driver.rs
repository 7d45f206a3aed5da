//! The glue between [`Statement`](super::Statement)s and one sqlx driver, written once and
//! instantiated by each backend module with its connection and row types and its time
//! encoding. A macro rather than code generic over `sqlx::Database`: the glue is the only
//! place that names sqlx's types, and the generic form needs higher-ranked `Executor` bounds
//! whose errors (and `Send` proofs in `async_trait`) are hard to read; each instantiation
//! here is plain, concrete code.

/// Implements `Columns` for `$row` and `Connection` for `$connection`, and defines
/// `prepare_schema`. `$encode_time` turns a `DateTime<Utc>` into the bound value;
/// `$decode_time(row, name)` reads an optional time.
macro_rules! sqlx_driver {
    (
        backend: $backend:literal,
        database: $database:ty,
        connection: $connection:ty,
        row: $row:ty,
        encode_time: $encode_time:expr,
        decode_time: $decode_time:expr $(,)?
    ) => {
        impl $crate::sql::Columns for $row {
            fn optional_text(&self, name: &str) -> StoreResult<Option<String>> {
                sqlx::Row::try_get(self, name).map_err(|error| $crate::sql::corrupt(name, error))
            }

            fn optional_integer(&self, name: &str) -> StoreResult<Option<i64>> {
                sqlx::Row::try_get(self, name).map_err(|error| $crate::sql::corrupt(name, error))
            }

            fn optional_flag(&self, name: &str) -> StoreResult<Option<bool>> {
                sqlx::Row::try_get(self, name).map_err(|error| $crate::sql::corrupt(name, error))
            }

            fn optional_bytes(&self, name: &str) -> StoreResult<Option<Vec<u8>>> {
                sqlx::Row::try_get(self, name).map_err(|error| $crate::sql::corrupt(name, error))
            }

            fn optional_time(&self, name: &str) -> StoreResult<Option<DateTime<Utc>>> {
                $decode_time(self, name)
            }
        }

        /// `statement` as an sqlx query, its values bound in this driver's encoding.
        fn query(
            statement: $crate::sql::Statement,
        ) -> (
            sqlx::query::Query<'static, $database, <$database as sqlx::Database>::Arguments>,
            Option<&'static str>,
        ) {
            use $crate::sql::Arg;
            let (sql, args, writes) = statement.into_parts();
            let mut query = sqlx::query(sqlx::AssertSqlSafe(sql));
            for arg in args {
                query = match arg {
                    Arg::Text(value) => query.bind(value),
                    Arg::Integer(value) => query.bind(value),
                    Arg::Flag(value) => query.bind(value),
                    Arg::Bytes(value) => query.bind(value),
                    Arg::Time(value) => query.bind(value.map($encode_time)),
                };
            }
            (query, writes)
        }

        #[async_trait::async_trait]
        impl $crate::sql::Connection for $connection {
            async fn execute(&mut self, statement: $crate::sql::Statement) -> StoreResult<u64> {
                let (query, writes) = query(statement);
                let done = query
                    .execute(&mut *self)
                    .await
                    .map_err(|error| $crate::sql::statement_error(error, writes, $backend))?;
                Ok(done.rows_affected())
            }

            async fn fetch_optional<T: Send>(
                &mut self,
                statement: $crate::sql::Statement,
                decode: $crate::sql::Decode<T>,
            ) -> StoreResult<Option<T>> {
                let (query, writes) = query(statement);
                let row = query
                    .fetch_optional(&mut *self)
                    .await
                    .map_err(|error| $crate::sql::statement_error(error, writes, $backend))?;
                row.as_ref().map(|row| decode(row)).transpose()
            }

            async fn fetch_all<T: Send>(
                &mut self,
                statement: $crate::sql::Statement,
                decode: $crate::sql::Decode<T>,
            ) -> StoreResult<Vec<T>> {
                let (query, writes) = query(statement);
                let rows = query
                    .fetch_all(&mut *self)
                    .await
                    .map_err(|error| $crate::sql::statement_error(error, writes, $backend))?;
                rows.iter().map(|row| decode(row)).collect()
            }
        }

        /// Refuses a database that a newer tokengate has migrated (this binary would misread
        /// it), then applies the pending migrations of `migrator`. `has_history` returns a row
        /// when sqlx's migration table exists.
        async fn prepare_schema(
            pool: &sqlx::Pool<$database>,
            migrator: &sqlx::migrate::Migrator,
            has_history: &'static str,
        ) -> Result<(), $crate::OpenError> {
            use sqlx::migrate::MigrateError;
            let history: Option<i32> = sqlx::query_scalar(has_history)
                .fetch_optional(pool)
                .await
                .map_err(MigrateError::Execute)?;
            if history.is_some() {
                let newest: Option<i64> =
                    sqlx::query_scalar("SELECT MAX(version) FROM _sqlx_migrations")
                        .fetch_one(pool)
                        .await
                        .map_err(MigrateError::Execute)?;
                let supported = $crate::sql::newest_known(migrator);
                if let Some(found) = newest.filter(|found| *found > supported) {
                    return Err($crate::OpenError::TooNew { found, supported });
                }
            }
            if let Err(first) = migrator.run(pool).await {
                // Another process (a node starting beside this one, the CLI beside `serve`)
                // may have applied the same migration a moment earlier; a second run then
                // finds nothing to do. A real failure repeats.
                tracing::warn!(error = %first, "database migration failed once; retrying");
                migrator.run(pool).await?;
            }
            Ok(())
        }
    };
}
