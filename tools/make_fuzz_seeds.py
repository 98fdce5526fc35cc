#!/usr/bin/env python3
"""Writes the fuzz seed corpora, Tests/Fuzz/corpus/<target>/, from the test fixtures (docs/TESTING.md, "Fuzzing").

Small by design: a handful of KB-sized seeds per target, synthetic IDX and CIFAR-10 records (no dataset images).
Run from the repository root: python3 tools/make_fuzz_seeds.py
The finding-* seeds beside them are minimised inputs that once trapped, hung or misbehaved (docs/TESTING.md,
"Fuzzing"); this script leaves them alone.
"""
import gzip, json, os, random, shutil, struct

OUT = "Tests/Fuzz/corpus"
rng = random.Random(0)


def put(target, name, data):
    os.makedirs(f"{OUT}/{target}", exist_ok=True)
    with open(f"{OUT}/{target}/{name}", "wb") as f:
        f.write(data)


def copy(target, path):
    put(target, os.path.basename(path), open(path, "rb").read())


def safetensors(tensors, metadata=None):
    header, data = {}, b""
    for name, (dtype, shape, raw) in tensors.items():
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if metadata is not None:
        header["__metadata__"] = metadata
    h = json.dumps(header).encode()
    return struct.pack("<Q", len(h)) + h + data


def model_config(path):
    raw = open(path, "rb").read()
    n = struct.unpack("<Q", raw[:8])[0]
    return json.loads(raw[8:8 + n])["__metadata__"]["bcos.config"].encode()


# safetensors: the import oracle (F32) and one tensor of every dtype, scalar and empty shapes, metadata.
copy("safetensors", "Tests/BcosEngineTests/ImportFixtures/expected.safetensors")
put("safetensors", "dtypes.safetensors", safetensors({
    "f32": ("F32", [2, 2], struct.pack("<4f", 1, -2, 3.5, 0)),
    "f64": ("F64", [], struct.pack("<d", 0.25)),
    "f16": ("F16", [3], struct.pack("<3H", 0x3C00, 0x0001, 0x7C00)),
    "bf16": ("BF16", [1, 1], struct.pack("<H", 0x3F80)),
    "empty": ("F32", [0, 4], b""),
}, {"bcos.config": "{}", "note": "seed"}))

# config: every architecture's config from the arch oracle fixtures, and the shipped CIFAR-10 model's.
for fixture in json.load(open("Tests/BcosEngineTests/ArchFixtures/fixtures.json")):
    put("config", fixture["name"] + ".json", json.dumps(fixture["config"]).encode())
put("config", "cifar10-b2.json", model_config("assets/models/cifar10-b2.safetensors"))
put("config", "v1_gray_b2_m2.json", model_config("Tests/BcosEngineTests/Fixtures/v1_gray_b2_m2.model.safetensors"))

# torch: the import fixtures (torch.save zip and legacy, a wrapped state dict, refused pickles).
for name in ["state_zip.pth", "state_wrapped.pth", "model_object.pth", "evil_zip.pth"]:
    copy("torch-zip", "Tests/BcosEngineTests/ImportFixtures/" + name)
for name in ["state_legacy.pkl", "evil_reduce.pkl"]:
    copy("torch-legacy", "Tests/BcosEngineTests/ImportFixtures/" + name)

# png, jpeg: the decoder fixtures (every colour type and bit depth, Adam7, CMYK), all under 1 KB.
fixtures = "Tests/BcosDataTests/Fixtures"
for name in sorted(os.listdir(fixtures)):
    if name.endswith(".png") and os.path.getsize(f"{fixtures}/{name}") > 0:
        copy("png", f"{fixtures}/{name}")
    if name.endswith(".jpg"):
        copy("jpeg", f"{fixtures}/{name}")

# idx: 3 images of 4x5 and their labels, plain and gzip.
images = struct.pack(">IIII", 0x803, 3, 4, 5) + bytes(rng.randrange(256) for _ in range(60))
labels = struct.pack(">II", 0x801, 3) + bytes([7, 0, 9])
for name, data in [("images-idx3-ubyte", images), ("labels-idx1-ubyte", labels)]:
    put("idx", name, data)
    put("idx", name + ".gz", gzip.compress(data, mtime=0))

# cifar: synthetic records (random pixels), one and two per file.
def record(label):
    return bytes([label]) + bytes(rng.randrange(256) for _ in range(3072))
put("cifar", "one_record.bin", record(3))
put("cifar", "two_records.bin", record(0) + record(9))
