#!/usr/bin/env bash
# Generates the TypeScript (protobuf-es v2, with the service descriptors
# connect-es v2 takes) and Python (messages, type stubs, gRPC stubs)
# clients of every .proto of the workspace into a temporary directory, and
# checks that the TypeScript typechecks (tsc --strict --noEmit, with a
# connect-es client made for every service), that every Python module
# imports, and that no field is named with a Python, Java or TypeScript
# keyword. Needs buf, the npm packages of api/clients/package.json
# (npm ci), and Debian's protobuf-compiler, protobuf-compiler-grpc,
# python3-protobuf and python3-grpcio (.ci/run installs them).
set -euo pipefail
cd "$(dirname "$0")/../.."

out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT

buf generate --template api/clients/buf.gen.yaml -o "$out"

# TypeScript: every generated file, and a client of every service (found
# in the generated code, so that a new service is checked too).
ts="$out/typescript"
ln -s "$PWD/api/clients/node_modules" "$ts/node_modules"
cp api/clients/examples/error_info.ts "$ts/"
{
  echo 'import { createClient, type Client, type Transport } from "@connectrpc/connect";'
  services=()
  while IFS=: read -r file name; do
    mod="./${file#"$ts/"}"
    echo "import { $name } from \"${mod%.ts}.js\";"
    services+=("$name")
  done < <(grep -rHoP '^export const \K\w+(?=: GenService<)' "$ts/gen" | sort)
  echo 'export function clients(t: Transport) {'
  echo '  return {'
  for s in "${services[@]}"; do echo "    $s: createClient($s, t) as Client<typeof $s>,"; done
  echo '  };'
  echo '}'
} >"$ts/clients.ts"
# Checked as Node.js ES modules, the strictest resolution: every import
# needs its extension.
echo '{"type": "module"}' >"$ts/package.json"
cat >"$ts/tsconfig.json" <<'JSON'
{
  "compilerOptions": {
    "strict": true,
    "noEmit": true,
    "target": "ES2022",
    "module": "NodeNext",
    "moduleResolution": "NodeNext",
    "lib": ["ES2022", "DOM"],
    "types": [],
    "noUnusedLocals": true,
    "exactOptionalPropertyTypes": true,
    "skipLibCheck": false
  },
  "include": ["gen/**/*.ts", "clients.ts", "error_info.ts"]
}
JSON
echo "typescript: $(find "$ts/gen" -name '*.ts' | wc -l) files, ${#services[@]} services"
api/clients/node_modules/.bin/tsc -p "$ts/tsconfig.json"

# Python, with Debian's runtime (not a virtualenv's): every module
# imports, every service has its stub, and the example of the README
# reads the reason of a refusal sent by a generated servicer over a real
# connection.
PYTHONPATH="$out/python:api/clients/examples" /usr/bin/python3 - "$out/python" <<'PY'
import importlib, pathlib, sys
from concurrent import futures

import grpc

root = pathlib.Path(sys.argv[1])
mods = sorted(".".join(p.relative_to(root).with_suffix("").parts) for p in root.rglob("*.py"))
services = 0
for m in mods:
    mod = importlib.import_module(m)
    if m.endswith("_pb2"):
        stubs = importlib.import_module(m + "_grpc")
        for s in mod.DESCRIPTOR.services_by_name:
            assert hasattr(stubs, s + "Stub"), f"{m}: no {s}Stub"
            services += 1
print(f"python: {len(mods)} modules import, {services} services have stubs")

# No field of a Fidelis message is named with a keyword of Python, Java or
# TypeScript (Python cannot pass `from=` to a constructor).
import keyword
KEYWORDS = set(keyword.kwlist) | set("""
abstract assert boolean break byte case catch char class const continue default do double else enum extends
final finally float for goto if implements import instanceof int interface long native new package private
protected public return short static strictfp super switch synchronized this throw throws transient try void
volatile while true false null delete export function in let typeof var with yield await debugger
""".split())


def fields(msg):
    for f in msg.fields:
        yield f
    for m in msg.nested_types:
        yield from fields(m)


bad = set()
for m in mods:
    if m.startswith("fidelis.") and m.endswith("_pb2"):
        for msg in sys.modules[m].DESCRIPTOR.message_types_by_name.values():
            bad |= {f.full_name for f in fields(msg) if f.name in KEYWORDS}
assert not bad, f"fields named with a keyword: {sorted(bad)}"

import error_info
from fidelis.access.v1 import access_pb2, access_pb2_grpc
from google.rpc import code_pb2, error_details_pb2, status_pb2


class Access(access_pb2_grpc.AccessServiceServicer):
    def GetPrincipal(self, request, context):
        if request.principal_id == "pos-1":
            return access_pb2.GetPrincipalResponse(principal=access_pb2.Principal(principal_id="pos-1"))
        st = status_pb2.Status(code=code_pb2.NOT_FOUND, message="principal not found")
        st.details.add().Pack(error_details_pb2.ErrorInfo(reason="PRINCIPAL_NOT_FOUND", domain="fidelis-loyalty.github.io"))
        context.set_trailing_metadata((("grpc-status-details-bin", st.SerializeToString()),))
        context.abort(grpc.StatusCode.NOT_FOUND, st.message)


server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
access_pb2_grpc.add_AccessServiceServicer_to_server(Access(), server)
port = server.add_insecure_port("127.0.0.1:0")
server.start()
try:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        assert error_info.find_principal(channel, "pos-1").principal_id == "pos-1"
        assert error_info.find_principal(channel, "nobody") is None
        try:
            access_pb2_grpc.AccessServiceStub(channel).GetPrincipal(access_pb2.GetPrincipalRequest(principal_id="x"))
        except grpc.RpcError as err:
            assert err.code() == grpc.StatusCode.NOT_FOUND and error_info.reason_of(err) == "PRINCIPAL_NOT_FOUND"
finally:
    server.stop(None)
print("python: the example reads ErrorInfo.reason")
PY
