"""
Mode `parse` (default): parse worker answers with the LoRAX and TGI Python clients' own pydantic response models
(../shared/specs/*-client-types.py, copied from the clients), as the clients do.
stdin: JSON lines {"client": "lorax"|"tgi", "model": "Response"|..., "payload": ...}
stdout: one JSON line per input {"ok": bool, "error": str|null}
Mode `requests`: build request bodies with the clients' own request models, as their
generate()/chat() do (`Request(...).dict()`): stdin one JSON list of
{"client", "stream", "parameters"} (a generate request) or {"client": "tgi", "chat": {...}};
stdout one JSON list of bodies.
The models import `lorax.errors` / `text_generation.errors` for ValidationError only: stubbed.
"""
import json
import sys
import types

specs = sys.argv[1]
modules = {}
for client, errors_module in (("lorax", "lorax"), ("tgi", "text_generation")):
    pkg = types.ModuleType(errors_module)
    errs = types.ModuleType(f"{errors_module}.errors")
    errs.ValidationError = type("ValidationError", (ValueError,), {})
    pkg.errors = errs
    sys.modules[errors_module] = pkg
    sys.modules[f"{errors_module}.errors"] = errs
    ns = {"__name__": f"{client}_types"}
    with open(f"{specs}/{client}-client-types.py") as f:
        exec(compile(f.read(), f"{client}-client-types.py", "exec"), ns)
    modules[client] = ns

if len(sys.argv) > 2 and sys.argv[2] == "requests":
    bodies = []
    for item in json.load(sys.stdin):
        m = modules[item["client"]]
        if "chat" in item:
            chat = dict(item["chat"])
            chat["messages"] = [m["Message"](**x) for x in chat["messages"]]
            bodies.append(m["ChatRequest"](model="tgi", **chat).model_dump(mode="json"))
        else:
            params = m["Parameters"](**item["parameters"])
            bodies.append(m["Request"](inputs=item["inputs"], stream=item["stream"], parameters=params).model_dump(mode="json"))
    print(json.dumps(bodies))
    sys.exit(0)

for line in sys.stdin:
    if not line.strip():
        continue
    item = json.loads(line)
    try:
        modules[item["client"]][item["model"]](**item["payload"])
        print(json.dumps({"ok": True, "error": None}))
    except Exception as e:  # pydantic.ValidationError or a stub's
        print(json.dumps({"ok": False, "error": str(e)[:400]}))
