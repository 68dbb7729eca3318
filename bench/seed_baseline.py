#!/usr/bin/env python3
"""The seed's five steps, done the way the seed does them, for the benchmark only.

Written for `bench/run` (not the seed's code): boto3 CreateAccessKey, requests POST /v1/auth,
POST /v1/credentials/<prefix>-<yymmdd>, ONE `GET /v1/groups` (no `limit`, no paging), then a
sequential PUT for each group whose SoracomFunnel.credentialsId contains the prefix. Like
the seed it checks no status. Its input comes from the environment:

  SORACOM_ENDPOINT            origin of the SORACOM API (the emulator), without /v1
  SORACOM_AUTH_KEY_ID / _KEY  SAM auth key
  IAM_USER, CREDENTIAL_PREFIX the user whose key is rotated, the credential-set prefix
  AWS_ENDPOINT_URL, AWS_*     boto3's usual variables (moto)

It prints one JSON line: the new set id and how many groups it updated. Never a secret.
"""

import datetime
import json
import os

import boto3
import requests


def main() -> None:
    endpoint = os.environ["SORACOM_ENDPOINT"].rstrip("/") + "/v1"
    prefix = os.environ["CREDENTIAL_PREFIX"]
    user = os.environ["IAM_USER"]

    # 1. A new access key.
    iam = boto3.client("iam", endpoint_url=os.environ.get("AWS_ENDPOINT_URL"))
    key = iam.create_access_key(UserName=user)["AccessKey"]

    # 2. Log in to SORACOM.
    auth = requests.post(
        endpoint + "/auth",
        json={
            "authKeyId": os.environ["SORACOM_AUTH_KEY_ID"],
            "authKey": os.environ["SORACOM_AUTH_KEY"],
        },
        timeout=60,
    ).json()
    headers = {"X-Soracom-API-Key": auth["apiKey"], "X-Soracom-Token": auth["token"]}

    # 3. Register the key as <prefix>-<yymmdd>.
    set_id = f"{prefix}-{datetime.datetime.now(datetime.timezone.utc):%y%m%d}"
    requests.post(
        f"{endpoint}/credentials/{set_id}",
        headers=headers,
        json={
            "type": "aws-credentials",
            "credentials": {
                "accessKeyId": key["AccessKeyId"],
                "secretAccessKey": key["SecretAccessKey"],
            },
        },
        timeout=60,
    )

    # 4. One GET /groups: whatever the first page holds.
    groups = requests.get(endpoint + "/groups", headers=headers, timeout=300).json()

    # 5. Repoint, one group after the other, matching by substring.
    updated = 0
    for g in groups:
        funnel = (g.get("configuration") or {}).get("SoracomFunnel") or {}
        if prefix in str(funnel.get("credentialsId", "")):
            requests.put(
                f"{endpoint}/groups/{g['groupId']}/configuration/SoracomFunnel",
                headers=headers,
                json=[{"key": "credentialsId", "value": set_id}],
                timeout=60,
            )
            updated += 1

    print(json.dumps({"setId": set_id, "groupsSeen": len(groups), "updated": updated}))


if __name__ == "__main__":
    main()
