"""The read side of a ready dataset: filters, sort, projection, paging and exports over
its Parquet object, with only pyarrow underneath."""
