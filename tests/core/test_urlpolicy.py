"""core.urlpolicy: hosts are read as resolvers read them, and internal ones are refused however they are written."""

from __future__ import annotations

import ipaddress

import pytest
from django.core.exceptions import ValidationError

from core import urlpolicy
from core.urlpolicy import UrlRefused, check_host, check_url, parse_host
from registry.models.validators import validate_location

# (host as written, the address a resolver reads in it)
SPELLINGS = [
    ("127.0.0.1", "127.0.0.1"),
    ("2130706433", "127.0.0.1"),
    ("0x7f000001", "127.0.0.1"),
    ("0X7F000001", "127.0.0.1"),
    ("017700000001", "127.0.0.1"),
    ("0177.0.0.1", "127.0.0.1"),
    ("0x7f.0.0.1", "127.0.0.1"),
    ("0x7f.1", "127.0.0.1"),
    ("127.1", "127.0.0.1"),
    ("127.0.1", "127.0.0.1"),
    ("127.000.000.001", "127.0.0.1"),
    ("127.0.0.1.", "127.0.0.1"),
    ("\uff11\uff12\uff17.\uff10.\uff10.\uff11", "127.0.0.1"),  # full-width digits
    ("127\u30020\u30020\u30021", "127.0.0.1"),  # ideographic full stops
    ("0", "0.0.0.0"),  # noqa: S104 - an address read, not bound
    ("0x0", "0.0.0.0"),  # noqa: S104
    ("10.1", "10.0.0.1"),
    ("167772161", "10.0.0.1"),
    ("0xa9fea9fe", "169.254.169.254"),
    ("2852039166", "169.254.169.254"),
    ("169.254.43518", "169.254.169.254"),
    ("8.8.8.8", "8.8.8.8"),
    ("134744072", "8.8.8.8"),
    ("[::1]", "::1"),
    ("::ffff:127.0.0.1", "::ffff:7f00:1"),
    ("[::ffff:7f00:1]", "::ffff:7f00:1"),
    ("[FD00:EC2::254]", "fd00:ec2::254"),
]


@pytest.mark.parametrize(("written", "address"), SPELLINGS)
def test_hosts_are_read_as_resolvers_read_them(written, address):
    assert parse_host(written).address == ipaddress.ip_address(address)


@pytest.mark.parametrize(
    "host",
    [
        # Loopback, in every spelling.
        "127.0.0.1",
        "2130706433",
        "0x7f000001",
        "0177.0.0.1",
        "127.1",
        "127.0.0.1.",
        "\uff11\uff12\uff17.\uff10.\uff10.\uff11",
        "[::1]",
        "[::ffff:127.0.0.1]",
        "[::ffff:7f00:1]",
        "[::127.0.0.1]",
        "[64:ff9b::7f00:1]",
        "[2002:7f00:1::]",
        # Private, shared, link-local, unspecified, multicast, reserved, documentation.
        "10.0.0.8",
        "10.1",
        "172.16.0.1",
        "192.168.1.1",
        "100.64.0.1",
        "169.254.1.1",
        "0.0.0.0",  # noqa: S104
        "0",
        "224.0.0.1",
        "239.255.255.250",
        "240.0.0.1",
        "255.255.255.255",
        "192.0.2.1",
        "[fe80::1]",
        "[fc00::1]",
        "[::]",
        "[ff02::1]",
        "[2001:db8::1]",
        "[::ffff:10.0.0.1]",
        # Cloud metadata, by address and by name.
        "169.254.169.254",
        "0xa9fea9fe",
        "2852039166",
        "169.254.43518",
        "[::ffff:169.254.169.254]",
        "[fd00:ec2::254]",
        "100.100.100.200",
        "169.254.170.2",
        "metadata.google.internal",
        "METADATA.GOOGLE.INTERNAL.",
        "metadata",
        "instance-data",
        "instance-data.ec2.internal",
        # Names that only resolve inside, or to the address they spell.
        "localhost",
        "LOCALHOST.",
        "api.localhost",
        "printer.local",
        "db.svc.cluster.local",
        "router.home.arpa",
        "127.0.0.1.nip.io",
        "app.localtest.me",
        # Not a name and not a valid address: a resolver might read it either way.
        "256.1.1.1",
        "1.2.3.4.5",
        "08.0.0.1",
        "0x1g.0.0.1",
        "4294967296",
        "1.2.65536",
        "[::1%25eth0]",
        "%31%32%37.0.0.1",
        "exa mple.com",
        "-bad-.example.com",
        "a" * 64 + ".example.com",
        "",
        ".",
    ],
)
def test_internal_and_ambiguous_hosts_are_refused(host):
    with pytest.raises(
        UrlRefused,
        match=r"^The (URL|host|address) ",
    ):
        check_host(host)


@pytest.mark.parametrize(
    "host",
    [
        "data.example.com",
        "Data.Example.COM.",
        "bucket",
        "my_bucket.storage",
        "account.dfs.core.windows.net",
        "namenode",
        "8.8.8.8",
        "134744072",
        "[2606:4700:4700::1111]",
        "b\u00fccher.example",  # IDNA: xn--bcher-kva.example
        "1e100.net",
        "123.example.com",
    ],
)
def test_public_hosts_are_accepted(host):
    check_host(host)


def test_metadata_addresses_say_so():
    for host in ("169.254.169.254", "[fd00:ec2::254]", "0xa9fea9fe"):
        with pytest.raises(UrlRefused, match="metadata"):
            check_host(host)


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("https://2130706433/x", "public"),
        ("https://user:pw@example.com/x", "credentials"),
        ("https://example.com\\@127.0.0.1/x", "backslash"),
        ("https://example.com:99999/x", "port"),
        ("https://example.com:port/x", "port"),
        ("http://example.com/x", "scheme"),
        ("file:///etc/passwd", "scheme"),
        ("https:///x", "host"),
        ("https://[::1]:443/x", "public"),
    ],
)
def test_check_url_refuses(url, problem):
    with pytest.raises(UrlRefused, match=problem):
        check_url(url, schemes={"https"})


def test_check_url_accepts_a_public_url():
    assert check_url("https://hooks.example.com:8443/x?y=1", schemes={"https"}).hostname == "hooks.example.com"


def test_a_resolved_address_is_checked_too():
    urlpolicy.check_address(ipaddress.ip_address("93.184.216.34"))
    with pytest.raises(UrlRefused, match=r"^The address .*192\.168\.0\.1.* is not a public address and is refused\.$"):
        urlpolicy.check_address(ipaddress.ip_address("::ffff:192.168.0.1"))


# --- Every field that holds a URL uses the policy --------------------------------------------------------------------


@pytest.mark.parametrize(
    "location",
    [
        "https://2130706433/x",
        "https://0x7f000001/x",
        "https://127.1/x",
        "https://0177.0.0.1/x",
        "https://[::ffff:127.0.0.1]/x",
        "https://169.254.43518/latest/meta-data/",
        "https://localhost./x",
        "https://\uff11\uff12\uff17.\uff10.\uff10.\uff11/x",
        "hdfs://10.1:8020/data",
        "s3://127.0.0.1/data",
        "abfss://c@metadata.google.internal/x",
        "https://example.com:99999/x",
        "https://example.com\\@127.0.0.1/x",
    ],
)
def test_dataset_locations_refuse_internal_hosts_however_written(location):
    with pytest.raises(ValidationError, match=r"(host|address|URL|port|scheme|location|credentials)") as refused:
        validate_location(location)
    assert refused.value.messages, location


def test_dataset_locations_through_the_api(cast, api_as):
    client = api_as(cast.engineer_a)
    body = {
        "team": "team-a",
        "name": "Loopback",
        "owner": cast.engineer_a.username,
        "storage_format": "parquet",
        "classification": "internal",
        "legal_basis": "contract",
        "location": "https://2130706433/x",
    }
    response = client.post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 400, response.content
    assert "location" in response.json()["error"]["fields"]
    body["location"] = "https://data.example.com/x"
    response = client.post("/api/v1/datasets/", body, format="json")
    assert response.status_code == 201, response.content


# Columns named like a URL that no client writes: the job that produces the data sets them.
WRITTEN_BY_JOBS = {("registry", "FeatureSetVersion", "storage_location")}
# Checked by their action against this policy and a setting the model cannot read at import: a webhook's URL by
# core.webhooks.check_webhook_url (the policy, WEBHOOK_ALLOWED_HOSTS) at save, and by resolved address at send
# (tests/core/test_notifications.py tries the hostile ones).
CHECKED_BY_ACTION = {("core", "WebhookEndpoint", "url")}


def test_every_field_that_holds_a_url_is_checked_by_the_policy():
    from django.apps import apps
    from django.db import models

    url_like = ("url", "uri", "location", "endpoint", "webhook", "href")
    unchecked = []
    for model in apps.get_models():
        if model._meta.app_label not in {"core", "registry", "governance", "serving"}:
            continue
        for field in model._meta.get_fields():
            if not isinstance(field, models.CharField | models.TextField):
                continue
            if not (isinstance(field, models.URLField) or any(word in field.name for word in url_like)):
                continue
            if (model._meta.app_label, model.__name__, field.name) in WRITTEN_BY_JOBS | CHECKED_BY_ACTION:
                continue
            checked = any(
                validator is validate_location or getattr(validator, "__module__", "") == "core.urlpolicy"
                for validator in field.validators
            )
            if not checked:
                unchecked.append(f"{model.__name__}.{field.name}")
    assert unchecked == []
