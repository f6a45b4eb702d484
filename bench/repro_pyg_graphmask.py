"""Reproduction of a round-two corpus finding (docs/corpus-triage.md): torch_geometric 2.8.1,
explain/algorithm/graphmask_explainer.py:194-216, LL301.

GraphMaskExplainer._train_explainer builds ``optimizer = Adam(self.parameters())`` after a first
``_set_masks(...)``; when the gate shapes do not fit, its ``except Exception:`` fallback inside the
epoch loop calls ``_set_masks`` again, which replaces ``node_feat_mask``, ``full_bias`` and the gates
with new Parameters the optimizer does not hold: the node-feature mask never trains.

Not part of the test suite (it needs torch_geometric, which leaflint does not depend on)::

    pip install --target /tmp/pygdeps numpy tqdm jinja2 fsspec psutil requests aiohttp pyparsing xxhash
    PYTHONPATH=<corpus>/src/torch-geometric-2.8.1:/tmp/pygdeps python bench/repro_pyg_graphmask.py

Observed on torch 2.13.0 CPU: ``_set_masks calls: 2``, final mask in the optimizer: False,
final mask changed by training: False.
"""
import torch
from torch_geometric.nn import GCNConv
from torch_geometric.explain import Explainer
from torch_geometric.explain.algorithm import GraphMaskExplainer
import torch_geometric.explain.algorithm.graphmask_explainer as gm

torch.manual_seed(0)

class Net(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = GCNConv(8, 16)
        self.conv2 = GCNConv(16, 3)
    def forward(self, x, edge_index):
        return self.conv2(self.conv1(x, edge_index).relu(), edge_index)

calls = []
orig_set_masks = gm.GraphMaskExplainer._set_masks
def spy(self, *a, **k):
    orig_set_masks(self, *a, **k)
    calls.append((self.node_feat_mask, self.node_feat_mask.detach().clone()))
gm.GraphMaskExplainer._set_masks = spy

orig_adam = torch.optim.Adam
held = []
def adam(params, *a, **k):
    params = list(params); held.append({id(p) for p in params}); return orig_adam(params, *a, **k)
gm.torch.optim.Adam = adam

x = torch.randn(10, 8)
edge_index = torch.tensor([[0, 1, 2, 3, 4, 5, 6, 7, 8], [1, 2, 3, 4, 5, 6, 7, 8, 9]])
model = Net()
explainer = Explainer(model=model, algorithm=GraphMaskExplainer(2, epochs=5),
                      explanation_type='model', node_mask_type='attributes',
                      edge_mask_type='object',
                      model_config=dict(mode='multiclass_classification',
                                        task_level='node', return_type='raw'))
explanation = explainer(x, edge_index, index=2)
print("observed: _set_masks calls:", len(calls))
final = explainer.algorithm.node_feat_mask
print("observed: final node_feat_mask in the optimizer:", id(final) in held[0])
print("observed: final node_feat_mask changed by training:",
      not torch.equal(final.detach(), calls[-1][1]))
print("observed: first node_feat_mask changed by training:",
      not torch.equal(calls[0][0].detach(), calls[0][1]))
