-- Signal Parquet files as a FROM source. $files: quoted, comma-separated paths.
read_parquet([$files])
