#!/usr/bin/env python3
"""Independent checker for a c1z written by the Rust `c1z` crate.

Reads the file with nothing but the standard library (`sqlite3`) and the
`zstandard` package, decodes every protobuf blob with its own minimal wire
decoder, and checks the compatibility points 1-8 of the Baton reference
(magic and compression, schema, sync run, resource types, resources,
entitlements, grants, skipped types / duplicates / counts).

usage: check_c1z.py FILE.c1z EXPECTATIONS.json
Exit status 0 when every check passes, 1 otherwise, 2 on usage errors.
"""

import datetime
import io
import json
import os
import re
import sqlite3
import struct
import sys
import tempfile

try:
    import zstandard
except ImportError:  # pragma: no cover - reported to the caller
    print("SKIP: the zstandard package is not installed", file=sys.stderr)
    sys.exit(3)


# --------------------------------------------------------------------------
# Minimal protobuf wire decoding


class DecodeError(Exception):
    pass


def read_varint(buf, pos):
    result = 0
    shift = 0
    while True:
        if pos >= len(buf):
            raise DecodeError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift >= 70:
            raise DecodeError("varint too long")


def parse_fields(buf):
    """Returns a list of (field_number, wire_type, value) in wire order."""
    out = []
    pos = 0
    while pos < len(buf):
        key, pos = read_varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise DecodeError("field number 0")
        if wt == 0:
            v, pos = read_varint(buf, pos)
        elif wt == 1:
            if pos + 8 > len(buf):
                raise DecodeError("truncated fixed64")
            v = bytes(buf[pos : pos + 8])
            pos += 8
        elif wt == 2:
            ln, pos = read_varint(buf, pos)
            if pos + ln > len(buf):
                raise DecodeError("truncated length-delimited field %d" % num)
            v = bytes(buf[pos : pos + ln])
            pos += ln
        elif wt == 5:
            if pos + 4 > len(buf):
                raise DecodeError("truncated fixed32")
            v = bytes(buf[pos : pos + 4])
            pos += 4
        else:
            raise DecodeError("unsupported wire type %d" % wt)
        out.append((num, wt, v))
    return out


# Schemas: field number -> (name, kind, repeated). Kinds: "string", "bytes",
# "bool", "enum", "int", "double", or the name of another schema.
SCHEMAS = {
    "Any": {1: ("type_url", "string", False), 2: ("value", "bytes", False)},
    "ResourceId": {
        1: ("resource_type", "string", False),
        2: ("resource", "string", False),
        3: ("baton_resource", "bool", False),
    },
    "ExternalId": {
        1: ("id", "string", False),
        2: ("link", "string", False),
        3: ("description", "string", False),
    },
    "Timestamp": {1: ("seconds", "int", False), 2: ("nanos", "int", False)},
    "ResourceType": {
        1: ("id", "string", False),
        2: ("display_name", "string", False),
        3: ("traits", "enum", True),
        4: ("annotations", "Any", True),
        5: ("description", "string", False),
        6: ("sourced_externally", "bool", False),
    },
    "Resource": {
        1: ("id", "ResourceId", False),
        2: ("parent_resource_id", "ResourceId", False),
        3: ("display_name", "string", False),
        4: ("annotations", "Any", True),
        5: ("description", "string", False),
        6: ("baton_resource", "bool", False),
        7: ("external_id", "ExternalId", False),
        8: ("creation_source", "enum", False),
        9: ("profile", "Struct", False),
        10: ("icon", "bytes", False),
        11: ("status", "bytes", False),
        12: ("created_at", "Timestamp", False),
    },
    "Entitlement": {
        1: ("resource", "Resource", False),
        2: ("id", "string", False),
        3: ("display_name", "string", False),
        4: ("description", "string", False),
        5: ("grantable_to", "ResourceType", True),
        6: ("annotations", "Any", True),
        7: ("purpose", "enum", False),
        8: ("slug", "string", False),
    },
    "Grant": {
        1: ("entitlement", "Entitlement", False),
        2: ("principal", "Resource", False),
        3: ("id", "string", False),
        4: ("annotations", "Any", True),
        5: ("sources", "bytes", False),
    },
    "UserTrait": {
        1: ("emails", "Email", True),
        2: ("status", "UserStatus", False),
        3: ("profile", "Struct", False),
        4: ("icon", "bytes", False),
        5: ("account_type", "enum", False),
        6: ("login", "string", False),
        7: ("login_aliases", "string", True),
        8: ("created_at", "Timestamp", False),
        9: ("last_login", "Timestamp", False),
        10: ("mfa_status", "bytes", False),
        11: ("sso_status", "bytes", False),
        12: ("structured_name", "bytes", False),
        13: ("employee_ids", "string", True),
    },
    "Email": {1: ("address", "string", False), 2: ("is_primary", "bool", False)},
    "UserStatus": {1: ("status", "enum", False), 2: ("details", "string", False)},
    "GroupTrait": {1: ("icon", "bytes", False), 2: ("profile", "Struct", False)},
    "RoleTrait": {1: ("profile", "Struct", False)},
    "GrantExpandable": {
        1: ("entitlement_ids", "string", True),
        2: ("shallow", "bool", False),
        3: ("resource_type_ids", "string", True),
    },
    "SkipEntitlementsAndGrants": {},
    "Struct": {1: ("fields", "StructEntry", True)},
    "StructEntry": {1: ("key", "string", False), 2: ("value", "Value", False)},
    "Value": {
        1: ("null_value", "enum", False),
        2: ("number_value", "double", False),
        3: ("string_value", "string", False),
        4: ("bool_value", "bool", False),
        5: ("struct_value", "Struct", False),
        6: ("list_value", "ListValue", False),
    },
    "ListValue": {1: ("values", "Value", True)},
}

SCALAR_WIRE = {"string": 2, "bytes": 2, "bool": 0, "enum": 0, "int": 0, "double": 1}


def decode(schema, buf):
    """Decodes `buf` as message `schema` into a dict. Raises DecodeError on
    a wire-type mismatch, bad UTF-8 or out-of-order fields."""
    spec = SCHEMAS[schema]
    msg = {}
    last = 0
    for num, wt, v in parse_fields(buf):
        if num < last:
            raise DecodeError("%s: field %d after field %d (not in tag order)" % (schema, num, last))
        last = num
        if num not in spec:
            continue  # unknown fields are legal
        name, kind, repeated = spec[num]
        if kind in SCALAR_WIRE:
            want = SCALAR_WIRE[kind]
            if repeated and want == 0 and wt == 2:
                vals = []
                p = 0
                while p < len(v):
                    x, p = read_varint(v, p)
                    vals.append(x)
                msg.setdefault(name, []).extend(vals)
                continue
            if wt != want:
                raise DecodeError("%s.%s: wire type %d, expected %d" % (schema, name, wt, want))
            if kind == "string":
                try:
                    v = v.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise DecodeError("%s.%s: invalid UTF-8: %s" % (schema, name, e))
            elif kind == "bool":
                v = bool(v)
            elif kind == "double":
                v = struct.unpack("<d", v)[0]
        else:
            if wt != 2:
                raise DecodeError("%s.%s: wire type %d for a message" % (schema, name, wt))
            v = decode(kind, v)
        if repeated:
            msg.setdefault(name, []).append(v)
        else:
            msg[name] = v
    return msg


def struct_to_py(s):
    return {e.get("key", ""): value_to_py(e.get("value", {})) for e in s.get("fields", [])}


def value_to_py(v):
    if "number_value" in v:
        return v["number_value"]
    if "string_value" in v:
        return v["string_value"]
    if "bool_value" in v:
        return v["bool_value"]
    if "struct_value" in v:
        return struct_to_py(v["struct_value"])
    if "list_value" in v:
        return [value_to_py(x) for x in v["list_value"].get("values", [])]
    return None


TYPE_PREFIX = "type.googleapis.com/c1.connector.v2."


def annotations_of(msg, name):
    """Decoded annotations of type c1.connector.v2.<name>."""
    out = []
    for a in msg.get("annotations", []):
        if a.get("type_url") == TYPE_PREFIX + name:
            out.append(decode(name, a.get("value", b"")))
    return out


# --------------------------------------------------------------------------
# Checks

EXPECTED_COLUMNS = {
    "v1_resource_types": ["id", "external_id", "data", "sync_id", "discovered_at"],
    "v1_resources": [
        "id", "resource_type_id", "external_id", "parent_resource_type_id",
        "parent_resource_id", "data", "sync_id", "discovered_at",
    ],
    "v1_entitlements": [
        "id", "resource_type_id", "resource_id", "external_id", "data", "sync_id", "discovered_at",
    ],
    "v1_grants": [
        "id", "resource_type_id", "resource_id", "entitlement_id",
        "principal_resource_type_id", "principal_resource_id", "external_id",
        "expansion", "needs_expansion", "data", "sync_id", "discovered_at",
    ],
    "v1_sync_runs": [
        "id", "sync_id", "started_at", "ended_at", "sync_token", "sync_type",
        "parent_sync_id", "linked_sync_id", "supports_diff", "grants_backfilled", "stats",
        "ingest_invariant_generation", "ingest_invariant_coverage", "ingest_invariant_mode",
    ],
    "v1_assets": ["id", "external_id", "content_type", "data", "sync_id", "discovered_at"],
    "v1_connector_sessions": ["id", "sync_id", "key", "value"],
}

# index name -> (table, columns, unique, partial-where or None)
EXPECTED_INDEXES = {
    "idx_resource_types_external_sync_v1": ("v1_resource_types", ["external_id", "sync_id"], True),
    "idx_resources_resource_type_id_v1": ("v1_resources", ["resource_type_id"], False),
    # The swapped names are part of the format.
    "idx_resources_external_sync_v1": (
        "v1_resources", ["parent_resource_type_id", "parent_resource_id"], False),
    "idx_resources_parent_resource_id_v1": ("v1_resources", ["external_id", "sync_id"], True),
    "idx_entitlements_resource_id_v1": ("v1_entitlements", ["resource_type_id", "resource_id"], False),
    "idx_entitlements_external_sync_v1": ("v1_entitlements", ["external_id", "sync_id"], True),
    "idx_sync_runs_sync_id_v1": ("v1_sync_runs", ["sync_id"], True),
    "idx_grants_resource_type_id_resource_id_v1": (
        "v1_grants", ["resource_type_id", "resource_id"], False),
    "idx_grants_principal_id_v1": (
        "v1_grants", ["principal_resource_type_id", "principal_resource_id"], False),
    "idx_grants_entitlement_id_principal_id_v1": (
        "v1_grants", ["entitlement_id", "principal_resource_type_id", "principal_resource_id"], False),
    "idx_grants_external_sync_v1": ("v1_grants", ["external_id", "sync_id"], True),
    "idx_grants_entitlement_sync_grant_v1": ("v1_grants", ["entitlement_id", "sync_id", "id"], False),
    "idx_grants_sync_expansion_v1": ("v1_grants", ["sync_id"], False),
    "idx_grants_sync_needs_expansion_v1": ("v1_grants", ["sync_id"], False),
    "idx_assets_external_sync_v1": ("v1_assets", ["external_id", "sync_id"], True),
    "idx_session_store_sync_key_v1": ("v1_connector_sessions", ["sync_id", "key"], True),
}

DATETIME_RE = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}(\.\d{0,8}[1-9])?$")
BASE62 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
KSUID_EPOCH = 1400000000


class Checker:
    def __init__(self):
        self.passed = 0
        self.failed = []

    def check(self, item, cond, msg):
        if cond:
            self.passed += 1
        else:
            self.failed.append("[%s] %s" % (item, msg))
        return cond


def parse_dt(s):
    base, _, frac = s.partition(".")
    dt = datetime.datetime.strptime(base, "%Y-%m-%d %H:%M:%S")
    return dt + datetime.timedelta(microseconds=int((frac + "000000")[:6]) if frac else 0)


def ksuid_timestamp(s):
    n = 0
    for ch in s:
        n = n * 62 + BASE62.index(ch)
    if n >= 1 << 160:
        return None
    return (n >> 128) + KSUID_EPOCH


def main():
    if len(sys.argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    path, exp_path = sys.argv[1], sys.argv[2]
    with open(exp_path) as f:
        exp = json.load(f)
    c = Checker()

    # ---- 1. magic and compression -------------------------------------
    with open(path, "rb") as f:
        raw = f.read()
    c.check(1, raw[:5] == b"C1ZF\x00", "magic is %r, expected C1ZF\\0" % raw[:5])
    c.check(1, raw[5:9] == b"\x28\xb5\x2f\xfd", "bytes 5-8 are %r, not the zstd magic" % raw[5:9])
    params = zstandard.get_frame_parameters(raw[5:])
    c.check(1, params.window_size <= 128 * 1024 * 1024,
            "zstd window %d exceeds 128 MiB" % params.window_size)
    dec = zstandard.ZstdDecompressor(max_window_size=128 * 1024 * 1024)
    db_bytes = dec.stream_reader(io.BytesIO(raw[5:])).read()
    c.check(1, params.content_size in (db_bytes.__len__(), zstandard.CONTENTSIZE_UNKNOWN),
            "frame content size %d != decompressed size %d" % (params.content_size, len(db_bytes)))
    c.check(1, db_bytes[:16] == b"SQLite format 3\x00", "payload is not a SQLite database")
    c.check(1, db_bytes[18:20] == b"\x01\x01",
            "database header says WAL mode (bytes 18-19 = %r); a -wal file would be needed"
            % db_bytes[18:20])

    tmp = tempfile.NamedTemporaryFile(suffix=".db", delete=False)
    try:
        tmp.write(db_bytes)
        tmp.close()
        con = sqlite3.connect("file:%s?mode=ro" % tmp.name, uri=True)
        run_checks(c, con, exp)
        con.close()
    finally:
        os.unlink(tmp.name)

    for f in c.failed:
        print("FAIL " + f)
    print("%d passed, %d failed" % (c.passed, len(c.failed)))
    return 1 if c.failed else 0


def run_checks(c, con, exp):
    cur = con.cursor()
    c.check(1, cur.execute("pragma integrity_check").fetchone()[0] == "ok", "integrity_check failed")
    c.check(1, cur.execute("pragma user_version").fetchone()[0] == 0, "user_version is not 0")

    # ---- 2. schema -----------------------------------------------------
    tables = {r[0] for r in cur.execute("select name from sqlite_master where type='table'")}
    for t, cols in EXPECTED_COLUMNS.items():
        if not c.check(2, t in tables, "missing table %s" % t):
            continue
        have = [r[1] for r in cur.execute("pragma table_info(%s)" % t)]
        c.check(2, have == cols, "%s columns %s, expected %s" % (t, have, cols))
    for name, (table, cols, unique) in EXPECTED_INDEXES.items():
        row = cur.execute(
            "select tbl_name from sqlite_master where type='index' and name=?", (name,)).fetchone()
        if not c.check(2, row is not None, "missing index %s" % name):
            continue
        c.check(2, row[0] == table, "index %s is on %s, expected %s" % (name, row[0], table))
        have = [r[2] for r in cur.execute("pragma index_info(%s)" % name)]
        c.check(2, have == cols, "index %s columns %s, expected %s" % (name, have, cols))
        uniq = [r[2] for r in cur.execute("pragma index_list(%s)" % table) if r[1] == name]
        c.check(2, uniq == [1 if unique else 0], "index %s unique flag %s" % (name, uniq))

    # ---- 3. sync run ---------------------------------------------------
    runs = cur.execute(
        "select sync_id, started_at, ended_at, sync_type, sync_token, grants_backfilled, stats "
        "from v1_sync_runs").fetchall()
    c.check(3, len(runs) == 1, "expected exactly one sync run, found %d" % len(runs))
    if not runs:
        return
    sync_id, started, ended, sync_type, token, backfilled, stats = runs[0]
    c.check(3, sync_type == "full", "sync_type is %r" % sync_type)
    c.check(3, ended is not None, "ended_at is NULL (sync not finished)")
    c.check(3, isinstance(started, str) and DATETIME_RE.match(started) is not None,
            "started_at %r not in YYYY-MM-DD HH:MM:SS[.f] form" % (started,))
    if ended is not None:
        c.check(3, isinstance(ended, str) and DATETIME_RE.match(ended) is not None,
                "ended_at %r not in YYYY-MM-DD HH:MM:SS[.f] form" % (ended,))
        c.check(3, parse_dt(ended) >= parse_dt(started), "ended_at < started_at")
    c.check(3, re.match(r"^[0-9A-Za-z]{27}$", sync_id) is not None, "sync_id %r not a KSUID" % sync_id)
    ts = ksuid_timestamp(sync_id) if re.match(r"^[0-9A-Za-z]{27}$", sync_id) else None
    c.check(3, ts is not None and 1577836800 <= ts <= datetime.datetime.now().timestamp() + 86400,
            "sync_id KSUID timestamp %r not plausible" % ts)
    c.check(3, backfilled == 1, "grants_backfilled is %r" % backfilled)
    c.check(3, token is not None, "sync_token is NULL")
    for t in ["v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants"]:
        bad = cur.execute("select count(*) from %s where sync_id != ?" % t, (sync_id,)).fetchone()[0]
        c.check(3, bad == 0, "%d rows of %s have another sync_id" % (bad, t))
        bad_dt = [r[0] for r in cur.execute("select discovered_at from %s" % t)
                  if not (isinstance(r[0], str) and DATETIME_RE.match(r[0]))]
        c.check(3, not bad_dt, "%s discovered_at values not in Go layout: %s" % (t, bad_dt[:3]))
    try:
        st = json.loads(stats or "")
    except ValueError:
        st = None
    c.check(3, isinstance(st, dict), "stats is not a JSON object: %r" % (stats,))

    # ---- 4. resource types --------------------------------------------
    want_types = exp["resource_types"]
    got_types = {}
    skip_types = set()
    for ext, data in cur.execute("select external_id, data from v1_resource_types"):
        try:
            rt = decode("ResourceType", data)
        except DecodeError as e:
            c.check(4, False, "resource type %s: %s" % (ext, e))
            continue
        c.check(4, rt.get("id") == ext, "resource type id %r != external_id %r" % (rt.get("id"), ext))
        got_types[ext] = rt.get("traits", [])
        if annotations_of(rt, "SkipEntitlementsAndGrants") or any(
                a.get("type_url") == TYPE_PREFIX + "SkipEntitlementsAndGrants"
                for a in rt.get("annotations", [])):
            skip_types.add(ext)
    c.check(4, set(got_types) == set(want_types),
            "resource type ids %s, expected %s" % (sorted(got_types), sorted(want_types)))
    for t, traits in want_types.items():
        c.check(4, got_types.get(t) == traits,
                "traits of %s are %s, expected %s" % (t, got_types.get(t), traits))
    c.check(4, skip_types == set(exp["skip_entitlements_and_grants"]),
            "SkipEntitlementsAndGrants on %s" % sorted(skip_types))

    # ---- 5. resources --------------------------------------------------
    resources = set()
    per_type = {}
    rows = cur.execute(
        "select external_id, resource_type_id, parent_resource_type_id, parent_resource_id, data "
        "from v1_resources").fetchall()
    for ext, rtype, ptype, pid, data in rows:
        try:
            r = decode("Resource", data)
        except DecodeError as e:
            c.check(5, False, "resource %s: %s" % (ext, e))
            continue
        rid = r.get("id", {})
        key = "%s:%s" % (rid.get("resource_type", ""), rid.get("resource", ""))
        c.check(5, ext == key, "resource external_id %r != %r" % (ext, key))
        c.check(5, rtype == rid.get("resource_type"), "resource_type_id %r != %r" % (rtype, key))
        parent = r.get("parent_resource_id")
        if parent is None:
            c.check(5, ptype is None and pid is None, "%s has parent columns but no parent" % ext)
        else:
            c.check(5, (ptype, pid) == (parent.get("resource_type"), parent.get("resource")),
                    "%s parent columns %r != %r" % (ext, (ptype, pid), parent))
        resources.add(key)
        per_type.setdefault(rtype, []).append(rid.get("resource", ""))
        if rtype == "user":
            traits = annotations_of(r, "UserTrait")
            if not c.check(5, len(traits) == 1, "user %s has %d UserTrait annotations" % (ext, len(traits))):
                continue
            ut = traits[0]
            want = exp["users"].get(rid.get("resource"))
            if not c.check(5, want is not None, "unexpected user %s" % ext):
                continue
            emails = [e.get("address") for e in ut.get("emails", [])]
            c.check(5, emails == want["emails"], "%s emails %s, expected %s" % (ext, emails, want["emails"]))
            c.check(5, ut.get("login") == want["login"], "%s login %r" % (ext, ut.get("login")))
            status = ut.get("status", {}).get("status", 0)
            c.check(5, status == want["status"], "%s status %r, expected %r" % (ext, status, want["status"]))
            c.check(5, r.get("display_name") == want["display_name"], "%s display_name" % ext)
            profile = struct_to_py(ut.get("profile", {}))
            c.check(5, profile.get("email") == want["emails"][0], "%s profile email %r" % (ext, profile))
        elif rtype in exp["group_trait_types"]:
            c.check(5, len(annotations_of(r, "GroupTrait")) == 1, "%s lacks a GroupTrait" % ext)
        elif rtype in exp["role_trait_types"]:
            c.check(5, len(annotations_of(r, "RoleTrait")) == 1, "%s lacks a RoleTrait" % ext)
    for t, ids in exp["resources"].items():
        c.check(5, sorted(per_type.get(t, [])) == sorted(ids),
                "%s resources %s, expected %s" % (t, sorted(per_type.get(t, [])), sorted(ids)))

    # ---- 6. entitlements ----------------------------------------------
    entitlements = set()
    for ext, rtype, rid_col, data in cur.execute(
            "select external_id, resource_type_id, resource_id, data from v1_entitlements"):
        try:
            e = decode("Entitlement", data)
        except DecodeError as err:
            c.check(6, False, "entitlement %s: %s" % (ext, err))
            continue
        rid = e.get("resource", {}).get("id", {})
        want_id = "%s:%s:%s" % (rid.get("resource_type"), rid.get("resource"), e.get("slug"))
        c.check(6, e.get("id") == ext == want_id,
                "entitlement id %r / external_id %r / expected %r" % (e.get("id"), ext, want_id))
        c.check(6, e.get("slug") and ext.split(":")[-1] == e.get("slug"), "%s slug %r" % (ext, e.get("slug")))
        c.check(6, (rtype, rid_col) == (rid.get("resource_type"), rid.get("resource")),
                "%s resource columns %r" % (ext, (rtype, rid_col)))
        c.check(6, "%s:%s" % (rtype, rid_col) in resources, "%s: resource not in v1_resources" % ext)
        c.check(6, e.get("purpose") == 1, "%s purpose %r, expected ASSIGNMENT (1)" % (ext, e.get("purpose")))
        entitlements.add(ext)
    c.check(6, entitlements == set(exp["entitlements"]),
            "entitlements %s, expected %s" % (sorted(entitlements), sorted(exp["entitlements"])))

    # ---- 7. grants -----------------------------------------------------
    pairs = set()
    for row in cur.execute(
            "select external_id, resource_type_id, resource_id, entitlement_id, "
            "principal_resource_type_id, principal_resource_id, expansion, needs_expansion, data "
            "from v1_grants"):
        ext, rtype, rid_col, ent_col, ptype, pid, expansion, needs, data = row
        try:
            g = decode("Grant", data)
        except DecodeError as err:
            c.check(7, False, "grant %s: %s" % (ext, err))
            continue
        ent = g.get("entitlement", {})
        p = g.get("principal", {}).get("id", {})
        want_id = "%s:%s:%s" % (ent.get("id"), p.get("resource_type"), p.get("resource"))
        c.check(7, g.get("id") == ext == want_id, "grant id %r / external_id %r / expected %r"
                % (g.get("id"), ext, want_id))
        c.check(7, ent_col == ent.get("id"), "%s entitlement_id column %r" % (ext, ent_col))
        c.check(7, ent_col in entitlements, "%s: entitlement %r not in v1_entitlements" % (ext, ent_col))
        c.check(7, (ptype, pid) == (p.get("resource_type"), p.get("resource")),
                "%s principal columns %r" % (ext, (ptype, pid)))
        c.check(7, "%s:%s" % (ptype, pid) in resources, "%s: principal not in v1_resources" % ext)
        erid = ent.get("resource", {}).get("id", {})
        c.check(7, (rtype, rid_col) == (erid.get("resource_type"), erid.get("resource")),
                "%s resource columns %r" % (ext, (rtype, rid_col)))
        pairs.add((ent.get("id"), p.get("resource_type"), p.get("resource")))
        want_exp = exp["expandable"].get(ext)
        if want_exp is None:
            c.check(7, expansion is None and needs == 0, "%s has expansion data" % ext)
        else:
            c.check(7, needs == 1, "%s needs_expansion is %r" % (ext, needs))
            try:
                ge = decode("GrantExpandable", expansion or b"")
            except DecodeError as err:
                ge = {}
                c.check(7, False, "%s expansion: %s" % (ext, err))
            c.check(7, ge.get("entitlement_ids") == want_exp["entitlement_ids"]
                    and ge.get("shallow", False) == want_exp["shallow"],
                    "%s expansion %r, expected %r" % (ext, ge, want_exp))
            c.check(7, annotations_of(g, "GrantExpandable") == [ge],
                    "%s: blob annotation and expansion column disagree" % ext)
    want_pairs = {tuple(x) for x in exp["grants"]}
    c.check(7, pairs == want_pairs, "grant pairs differ: missing %s, extra %s"
            % (sorted(want_pairs - pairs), sorted(pairs - want_pairs)))

    # ---- 8. skipped types, duplicates, counts --------------------------
    for t in exp["skip_entitlements_and_grants"]:
        n = cur.execute("select count(*) from v1_entitlements where resource_type_id = ?", (t,)).fetchone()[0]
        c.check(8, n == 0, "%d entitlements on skipped type %s" % (n, t))
        n = cur.execute("select count(*) from v1_grants where resource_type_id = ?", (t,)).fetchone()[0]
        c.check(8, n == 0, "%d grants on skipped type %s" % (n, t))
    for t in ["v1_resource_types", "v1_resources", "v1_entitlements", "v1_grants"]:
        dups = cur.execute("select external_id, sync_id, count(*) from %s group by external_id, sync_id "
                           "having count(*) > 1" % t).fetchall()
        c.check(8, not dups, "duplicate rows in %s: %s" % (t, dups[:3]))
    for t, ids in exp["resources"].items():
        n = cur.execute("select count(*) from v1_resources where resource_type_id = ?", (t,)).fetchone()[0]
        c.check(8, n == len(ids), "%d %s resources, expected %d" % (n, t, len(ids)))
    n = cur.execute("select count(*) from v1_grants").fetchone()[0]
    c.check(8, n == len(want_pairs), "%d grants, expected %d" % (n, len(want_pairs)))
    if isinstance(st, dict):
        c.check(8, st.get("grants") == len(want_pairs), "stats.grants %r" % st.get("grants"))
        c.check(8, st.get("entitlements") == len(exp["entitlements"]),
                "stats.entitlements %r" % st.get("entitlements"))
        by_type = st.get("resources_by_resource_type", {})
        c.check(8, by_type == {t: len(ids) for t, ids in exp["resources"].items()},
                "stats.resources_by_resource_type %r" % by_type)


if __name__ == "__main__":
    sys.exit(main())
