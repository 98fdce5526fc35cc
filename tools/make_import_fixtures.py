"""Checkpoint files for the importer tests (Tests/BcosEngineTests/ImportFixtures), written by real torch.save.

Run: ~/bcos-venv/bin/python tools/make_import_fixtures.py
Writes, for one small state dict (float32 incl. a transposed view and a slice of a shared storage, float16, float64,
bfloat16, an int64 num_batches_tracked):
  state_zip.pth       torch.save (zip format, what v2 .pth files are)
  state_legacy.pkl    torch.save(..., _use_new_zipfile_serialization=False) (the legacy format of v1 state_dict.pkl)
  state_wrapped.pth   {"state_dict": sd, "epoch": 3} (training checkpoints wrap the state dict)
  expected.safetensors  the same tensors as contiguous float32 (the answer)
and hostile or broken inputs, none of which may execute anything or crash the reader:
  evil_zip.pth        a zip checkpoint whose pickle calls os.system (never executed here: built by hand)
  evil_reduce.pkl     a plain pickle calling builtins.eval
  model_object.pth    torch.save of an nn.Module object (not a state dict)
"""
import io, os, pickle, pickletools, zipfile, collections
import torch
from safetensors.torch import save_file

out = os.path.join(os.path.dirname(__file__), "..", "Tests", "BcosEngineTests", "ImportFixtures")
os.makedirs(out, exist_ok=True)
g = torch.Generator().manual_seed(0)
base = torch.randn(4, 6, generator=g)
sd = collections.OrderedDict()
sd["conv1.linear.weight"] = torch.randn(8, 6, 3, 3, generator=g)
sd["bn1.weight"] = torch.rand(8, generator=g) + 0.5
sd["bn1.running_var"] = torch.rand(8, generator=g) + 0.1
sd["bn1.num_batches_tracked"] = torch.tensor(17, dtype=torch.int64)
sd["fc.transposed"] = base.t()                      # a non-contiguous view (strides 1, 6)
sd["fc.slice"] = base[1:3, 2:5]                      # offset into a shared storage
sd["half"] = torch.randn(5, generator=g).half()
sd["double"] = torch.randn(2, 3, generator=g).double()
sd["bf16"] = torch.randn(7, generator=g).bfloat16()
sd["scalar"] = torch.tensor(2.5)

torch.save(sd, os.path.join(out, "state_zip.pth"))
torch.save(sd, os.path.join(out, "state_legacy.pkl"), _use_new_zipfile_serialization=False)
torch.save({"state_dict": sd, "epoch": 3}, os.path.join(out, "state_wrapped.pth"))
save_file({k: v.float().contiguous() for k, v in sd.items() if v.is_floating_point()},
          os.path.join(out, "expected.safetensors"))


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned > /tmp/bcos-pwned",))


# Build the hostile zip by hand from a real checkpoint: same layout, data.pkl replaced.
src = zipfile.ZipFile(os.path.join(out, "state_zip.pth"))
with zipfile.ZipFile(os.path.join(out, "evil_zip.pth"), "w", compression=zipfile.ZIP_STORED) as z:
    for info in src.infolist():
        data = src.read(info.filename)
        if info.filename.endswith("data.pkl"):
            data = pickle.dumps(collections.OrderedDict(w=Evil()), protocol=2)
        z.writestr(info.filename.replace("state_zip", "evil_zip"), data)

with open(os.path.join(out, "evil_reduce.pkl"), "wb") as f:
    f.write(b"\x80\x02cbuiltins\neval\nX\x0b\x00\x00\x00print('hi')\x85R.")

model = torch.nn.Sequential(torch.nn.Linear(2, 2))
torch.save(model, os.path.join(out, "model_object.pth"))
for name in sorted(os.listdir(out)):
    print(name, os.path.getsize(os.path.join(out, name)))
