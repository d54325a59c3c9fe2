"""The anchor of the S3 route: boto3's own `upload_file` of a model to the same bucket, with
hokusai-ci's part size and parallelism (8 MiB parts, 8 at a time) and boto3's defaults
otherwise, configured from the same environment (`MLFLOW_S3_ENDPOINT_URL`, `AWS_*`).

Usage: python bench/boto3_upload.py FILE BUCKET KEY
"""

from __future__ import annotations

import os
import sys

import boto3
from boto3.s3.transfer import TransferConfig
from botocore.config import Config

PART = 8 * 1024 * 1024


def main(path: str, bucket: str, key: str) -> None:
    client = boto3.client(
        "s3",
        endpoint_url=os.environ.get("MLFLOW_S3_ENDPOINT_URL") or None,
        config=Config(s3={"addressing_style": "path"}, max_pool_connections=16),
    )
    config = TransferConfig(multipart_threshold=PART, multipart_chunksize=PART, max_concurrency=8)
    client.upload_file(path, bucket, key, Config=config)


if __name__ == "__main__":
    main(*sys.argv[1:4])
