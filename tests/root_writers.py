"""Files in the ROOT layouts experiments write, written by CERN ROOT itself (PyROOT from the
PyPI package `root`): used by tests/test_root_layouts.py and bench/bench_layouts.py.

Each writer takes a file in the project's layout (``PROJECT`` branches) and writes the same
content in another layout; ``LAYOUTS`` holds the config a user would write for each
(``extraction.tree``, ``extraction.branches``). ROOT runs in a child process
(``python tests/root_writers.py ...``, see ``run``): the test process never loads cling next to
TensorFlow and the other tests' subprocess pools.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import awkward as ak
import numpy as np
import uproot

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))

from uhecr.io import DEFAULT_BRANCHES, InputLayout  # noqa: E402

WRITERS = r"""
#include <TFile.h>
#include <TTree.h>
#include <TDirectory.h>
#include <cstring>

namespace uhecr_test {
constexpr int kMaxStations = 512;

// One entry per event; per-station values in fixed-size arrays with the counter nst, inside
// nested TDirectories, with other branch names (an experiment's hand-written macro).
void write_fixed(const char* path, long n_events, const int* nst, const long* event_id,
                 const int* pdg, const double* energy, const double* zenith,
                 const double* azimuth, const double* core_x, const double* core_y,
                 const int* station_id, const double* sx, const double* sy,
                 const unsigned char* ok, const float* bl_hg, const float* bl_lg,
                 const float* vem_peak, const float* vem_charge, const float* da,
                 const short* adc_hg, const short* adc_lg) {
  TFile f(path, "RECREATE");
  TDirectory* dir = f.mkdir("sd")->mkdir("rec");
  dir->cd();
  TTree t("events", "fixed-size arrays per station");
  Int_t n; Long64_t eid; Int_t prim; Double_t e, zen, az, cx, cy;
  static Int_t sid[kMaxStations]; static Double_t x[kMaxStations], y[kMaxStations];
  static Bool_t pmt_ok[kMaxStations][3];
  static Float_t blh[kMaxStations][3], bll[kMaxStations][3], vp[kMaxStations][3],
      vc[kMaxStations][3], dar[kMaxStations][3];
  static Short_t adch[kMaxStations][3][768], adcl[kMaxStations][3][768];
  t.Branch("nst", &n, "nst/I");
  t.Branch("eventId", &eid, "eventId/L");
  t.Branch("primary", &prim, "primary/I");
  t.Branch("energy", &e, "energy/D");
  t.Branch("theta", &zen, "theta/D");
  t.Branch("phi", &az, "phi/D");
  t.Branch("coreX", &cx, "coreX/D");
  t.Branch("coreY", &cy, "coreY/D");
  t.Branch("stationId", sid, "stationId[nst]/I");
  t.Branch("stationX", x, "stationX[nst]/D");
  t.Branch("stationY", y, "stationY[nst]/D");
  t.Branch("pmtOK", pmt_ok, "pmtOK[nst][3]/O");
  t.Branch("bl_hg", blh, "bl_hg[nst][3]/F");
  t.Branch("bl_lg", bll, "bl_lg[nst][3]/F");
  t.Branch("vemPeak", vp, "vemPeak[nst][3]/F");
  t.Branch("vemCharge", vc, "vemCharge[nst][3]/F");
  t.Branch("daRatio", dar, "daRatio[nst][3]/F");
  t.Branch("adc_hg", adch, "adc_hg[nst][3][768]/S");
  t.Branch("adc_lg", adcl, "adc_lg[nst][3][768]/S");
  long s = 0;
  for (long i = 0; i < n_events; ++i) {
    n = nst[i]; eid = event_id[i]; prim = pdg[i]; e = energy[i]; zen = zenith[i];
    az = azimuth[i]; cx = core_x[i]; cy = core_y[i];
    for (int k = 0; k < n; ++k) {
      sid[k] = station_id[s + k]; x[k] = sx[s + k]; y[k] = sy[s + k];
      for (int p = 0; p < 3; ++p) {
        long q = 3 * (s + k) + p;
        pmt_ok[k][p] = ok[q]; blh[k][p] = bl_hg[q]; bll[k][p] = bl_lg[q];
        vp[k][p] = vem_peak[q]; vc[k][p] = vem_charge[q]; dar[k][p] = da[q];
      }
    }
    std::memcpy(adch, adc_hg + 3L * 768 * s, sizeof(Short_t) * 3 * 768 * n);
    std::memcpy(adcl, adc_lg + 3L * 768 * s, sizeof(Short_t) * 3 * 768 * n);
    t.Fill();
    s += n;
  }
  t.Write();
  f.Close();
}

// One entry per station; event-level values repeated on each of its stations.
void write_station_major(const char* path, long n, const long* event_id, const int* pdg,
                         const double* energy, const double* zenith, const double* azimuth,
                         const double* core_x, const double* core_y, const int* station_id,
                         const double* sx, const double* sy, const unsigned char* ok,
                         const float* bl_hg, const float* bl_lg, const float* vem_peak,
                         const float* vem_charge, const float* da, const short* adc_hg,
                         const short* adc_lg) {
  TFile f(path, "RECREATE");
  TTree t("stations", "one entry per station");
  Long64_t eid; Int_t prim, sid; Double_t e, zen, az, cx, cy, x, y;
  Bool_t pmt_ok[3]; Float_t blh[3], bll[3], vp[3], vc[3], dar[3];
  static Short_t adch[3][768], adcl[3][768];
  t.Branch("event", &eid, "event/L");
  t.Branch("pdg", &prim, "pdg/I");
  t.Branch("E", &e, "E/D");
  t.Branch("zenith", &zen, "zenith/D");
  t.Branch("azimuth", &az, "azimuth/D");
  t.Branch("xc", &cx, "xc/D");
  t.Branch("yc", &cy, "yc/D");
  t.Branch("id", &sid, "id/I");
  t.Branch("x", &x, "x/D");
  t.Branch("y", &y, "y/D");
  t.Branch("pmtOK", pmt_ok, "pmtOK[3]/O");
  t.Branch("blHG", blh, "blHG[3]/F");
  t.Branch("blLG", bll, "blLG[3]/F");
  t.Branch("vemPeak", vp, "vemPeak[3]/F");
  t.Branch("vemCharge", vc, "vemCharge[3]/F");
  t.Branch("daRatio", dar, "daRatio[3]/F");
  t.Branch("trace", adch, "trace[3][768]/S");
  t.Branch("traceLG", adcl, "traceLG[3][768]/S");
  for (long i = 0; i < n; ++i) {
    eid = event_id[i]; prim = pdg[i]; e = energy[i]; zen = zenith[i]; az = azimuth[i];
    cx = core_x[i]; cy = core_y[i]; sid = station_id[i]; x = sx[i]; y = sy[i];
    for (int p = 0; p < 3; ++p) {
      long q = 3 * i + p;
      pmt_ok[p] = ok[q]; blh[p] = bl_hg[q]; bll[p] = bl_lg[q];
      vp[p] = vem_peak[q]; vc[p] = vem_charge[q]; dar[p] = da[q];
    }
    std::memcpy(adch, adc_hg + 3L * 768 * i, sizeof(adch));
    std::memcpy(adcl, adc_lg + 3L * 768 * i, sizeof(adcl));
    t.Fill();
  }
  t.Write();
  f.Close();
}

// Per-station nested vectors from a flat per-event column (RDataFrame Define).
// (ROOT ships a dictionary for vector<vector<float>>, not for vectors of short or bool.)
template <typename T, typename S>
std::vector<std::vector<T>> nest(const ROOT::RVec<S>& flat, std::size_t n_stations) {
  std::vector<std::vector<T>> out(n_stations);
  const std::size_t per = n_stations ? flat.size() / n_stations : 0;
  for (std::size_t k = 0; k < n_stations; ++k)
    out[k].assign(flat.begin() + k * per, flat.begin() + (k + 1) * per);
  return out;
}
}  // namespace uhecr_test
"""

PROJECT = {  # logical name -> the project's branch
    k: v for k, v in DEFAULT_BRANCHES.items() if k not in ("xmax", "mc_signal_muon", "mc_signal_em")
}
FIXED_BRANCHES = {
    "event_id": "eventId", "primary": "primary", "energy": "energy", "zenith": "theta",
    "azimuth": "phi", "core_x": "coreX", "core_y": "coreY", "station_id": "stationId",
    "station_x": "stationX", "station_y": "stationY", "pmt_ok": "pmtOK", "baseline_hg": "bl_hg",
    "baseline_lg": "bl_lg", "vem_peak": "vemPeak", "vem_charge": "vemCharge",
    "da_ratio": "daRatio", "trace_hg": "adc_hg", "trace_lg": "adc_lg",
}  # fmt: skip
STATION_BRANCHES = {
    **FIXED_BRANCHES, "event_id": "event", "primary": "pdg", "energy": "E", "zenith": "zenith",
    "azimuth": "azimuth", "core_x": "xc", "core_y": "yc", "station_id": "id", "station_x": "x",
    "station_y": "y", "baseline_hg": "blHG", "baseline_lg": "blLG", "trace_hg": "trace",
    "trace_lg": "traceLG",
}  # fmt: skip
NESTED_BRANCHES = {  # RDataFrame columns: the project's names with a prefix
    k: ("nested_" + v if k in ("pmt_ok", "baseline_hg", "baseline_lg", "vem_peak", "vem_charge",
                               "da_ratio", "trace_hg", "trace_lg") else v)
    for k, v in PROJECT.items()
}  # fmt: skip


def declare():
    """The C++ writers (declared once per process)."""
    import ROOT  # PyPI `root`, pinned in the lock: installed by make test

    if not hasattr(ROOT, "uhecr_test"):
        assert ROOT.gInterpreter.Declare(WRITERS)
    return ROOT.uhecr_test


def _flat(arrays, logical, dtype):
    return np.ascontiguousarray(ak.to_numpy(ak.flatten(arrays[PROJECT[logical]])), dtype=dtype)


def _event(arrays, logical, dtype):
    return np.ascontiguousarray(ak.to_numpy(arrays[PROJECT[logical]]), dtype=dtype)


def station_level(arrays):
    return [
        _flat(arrays, "station_id", np.int32),
        _flat(arrays, "station_x", np.float64),
        _flat(arrays, "station_y", np.float64),
        _flat(arrays, "pmt_ok", np.uint8),
        *(_flat(arrays, k, np.float32) for k in ("baseline_hg", "baseline_lg", "vem_peak")),
        *(_flat(arrays, k, np.float32) for k in ("vem_charge", "da_ratio")),
        _flat(arrays, "trace_hg", np.int16),
        _flat(arrays, "trace_lg", np.int16),
    ]


def event_level(arrays, repeat=None):
    columns = [
        _event(arrays, "event_id", np.int64),
        _event(arrays, "primary", np.int32),
        *(_event(arrays, k, np.float64) for k in ("energy", "zenith", "azimuth", "core_x")),
        _event(arrays, "core_y", np.float64),
    ]
    return (
        [np.ascontiguousarray(np.repeat(c, repeat)) for c in columns]
        if repeat is not None
        else columns
    )


LAYOUTS = {
    "fixed": InputLayout(tree="sd/rec/events", branches=FIXED_BRANCHES),
    "station_major": InputLayout(tree="stations", branches=STATION_BRANCHES),
    "nested_ttree": InputLayout(tree="Events", branches=NESTED_BRANCHES),
    "nested_rntuple": InputLayout(tree="Events", branches=NESTED_BRANCHES),
}


def read_project(path) -> ak.Array:
    with uproot.open(path) as f:
        return f["Events"].arrays(list(PROJECT.values()), library="ak")


def station_columns(arrays) -> dict[str, np.ndarray]:
    """One row per station: event values repeated, then the station values (as the
    station-major writer takes them; PMT values and traces flattened)."""
    nst = ak.to_numpy(ak.num(arrays[PROJECT["station_id"]]))
    names = [f"e{k}" for k in range(7)] + [f"s{k}" for k in range(11)]
    return dict(zip(names, [*event_level(arrays, nst), *station_level(arrays)], strict=True))


def write_fixed(source, path):
    arrays = read_project(source)
    nst = np.ascontiguousarray(ak.to_numpy(ak.num(arrays[PROJECT["station_id"]])), dtype=np.int32)
    assert nst.max() < 512
    declare().write_fixed(str(path), len(nst), nst, *event_level(arrays), *station_level(arrays))


def write_station_major(columns: dict[str, np.ndarray], path):
    values = [
        np.ascontiguousarray(columns[k])
        for k in sorted(columns, key=lambda k: (k[0] != "e", int(k[1:])))
    ]
    declare().write_station_major(str(path), len(values[0]), *values)


def snapshot_nested(source, path, rntuple: bool):
    """RDataFrame::Snapshot of the project file with per-station nested vectors."""
    import ROOT

    declare()
    df = ROOT.RDataFrame("Events", str(source))
    per_station = {
        "baseline_hg": "float", "baseline_lg": "float", "vem_peak": "float",
        "vem_charge": "float", "da_ratio": "float", "trace_hg": "float", "trace_lg": "float",
    }  # fmt: skip
    # Branch by branch: the flags stay a flat RVec<bool> per event (ROOT has no dictionary for
    # vector<vector<bool>>): one file may mix layouts.
    df = df.Define(NESTED_BRANCHES["pmt_ok"], PROJECT["pmt_ok"])
    for logical, ctype in per_station.items():
        df = df.Define(
            NESTED_BRANCHES[logical],
            f"uhecr_test::nest<{ctype}>({PROJECT[logical]}, {PROJECT['station_id']}.size())",
        )
    options = ROOT.RDF.RSnapshotOptions()
    if rntuple:
        options.fOutputFormat = ROOT.RDF.ESnapshotOutputFormat.kRNTuple
    columns = ROOT.std.vector["std::string"](list(NESTED_BRANCHES.values()))
    df.Snapshot("Events", str(path), columns, options)


def read_with_root(path, columns: list[str]) -> dict[str, list]:
    """Columns of tree Events as ROOT's RDataFrame reads them (lists; vectors as lists)."""
    import ROOT

    read = ROOT.RDataFrame("Events", str(path)).AsNumpy(columns)
    return {c: [v.tolist() if hasattr(v, "tolist") else list(v) for v in read[c]] for c in columns}


def run(*args: str) -> str:
    """This module's command line in a child process; its stdout (errors raise)."""
    out = subprocess.run(
        [sys.executable, __file__, *map(str, args)], capture_output=True, text=True
    )
    if out.returncode != 0:
        raise RuntimeError(f"root_writers {args}: exit {out.returncode}\n{out.stderr[-3000:]}")
    return out.stdout


def main(argv: list[str]) -> None:
    command, *rest = argv
    if command == "fixed":
        write_fixed(*rest)
    elif command == "station_major":  # from a project file, or from station columns (.npz)
        source, path = rest
        if source.endswith(".npz"):
            columns = dict(np.load(source))
        else:
            columns = station_columns(read_project(source))
        write_station_major(columns, path)
    elif command in ("nested_ttree", "nested_rntuple"):
        snapshot_nested(*rest, rntuple=command == "nested_rntuple")
    elif command == "read":
        path, *columns = rest
        print(json.dumps(read_with_root(path, columns)))
    else:
        raise SystemExit(f"unknown command {command!r}")


if __name__ == "__main__":
    main(sys.argv[1:])
