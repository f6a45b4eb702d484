"""What leaflint knows about the torch API, as plain data (never imports torch)."""

from __future__ import annotations

# torch.nn layers and the parameters they own (attribute names).
_LINEAR = frozenset({"weight", "bias"})
LAYER_PARAMETERS: dict[str, frozenset[str]] = {
    **{
        name: _LINEAR
        for name in (
            "Linear", "LazyLinear", "Bilinear",
            "Conv1d", "Conv2d", "Conv3d", "ConvTranspose1d", "ConvTranspose2d", "ConvTranspose3d",
            "LazyConv1d", "LazyConv2d", "LazyConv3d",
            "LayerNorm", "GroupNorm", "RMSNorm",
            "BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm",
            "InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d",
        )
    },
    "Embedding": frozenset({"weight"}),
    "EmbeddingBag": frozenset({"weight"}),
    "PReLU": frozenset({"weight"}),
    "MultiheadAttention": frozenset({"in_proj_weight", "in_proj_bias", "q_proj_weight",
                                     "k_proj_weight", "v_proj_weight", "bias_k", "bias_v"}),
    "RNN": frozenset({"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}),
    "LSTM": frozenset({"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}),
    "GRU": frozenset({"weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0"}),
    "RNNCell": frozenset({"weight_ih", "weight_hh", "bias_ih", "bias_hh"}),
    "LSTMCell": frozenset({"weight_ih", "weight_hh", "bias_ih", "bias_hh"}),
    "GRUCell": frozenset({"weight_ih", "weight_hh", "bias_ih", "bias_hh"}),
}
# Layers whose parameters exist only when a constructor flag says so: layer -> (keyword, its
# position among the positional arguments, default). Measured on torch 2.13: with the flag false
# `named_parameters()` is empty (InstanceNorm*'s `affine` defaults to False).
AFFINE_ARGUMENTS: dict[str, tuple[str, int, bool]] = {
    "LayerNorm": ("elementwise_affine", 2, True),
    "RMSNorm": ("elementwise_affine", 2, True),
    "GroupNorm": ("affine", 3, True),
    **{name: ("affine", 3, True) for name in ("BatchNorm1d", "BatchNorm2d", "BatchNorm3d", "SyncBatchNorm")},
    **{name: ("affine", 3, False) for name in ("InstanceNorm1d", "InstanceNorm2d", "InstanceNorm3d")},
}
# Submodules a layer owns (attribute -> layer name).
LAYER_SUBMODULES: dict[str, dict[str, str]] = {
    "MultiheadAttention": {"out_proj": "Linear"},
}
# Containers that own the parameters of what they hold: assigning one in forward is LL302
# only when it is built from parameter-owning layers, which we cannot always see; they are
# left out of "owns parameters" on purpose.
PARAMETER_FREE_LAYERS = frozenset({
    "ReLU", "ReLU6", "GELU", "SiLU", "Mish", "Tanh", "Sigmoid", "Softmax", "LogSoftmax",
    "Dropout", "Dropout1d", "Dropout2d", "Dropout3d", "AlphaDropout", "Identity", "Flatten",
    "Unflatten", "LocalResponseNorm", "MaxPool1d", "MaxPool2d", "MaxPool3d", "AvgPool1d", "AvgPool2d", "AvgPool3d",
    "AdaptiveAvgPool1d", "AdaptiveAvgPool2d", "AdaptiveAvgPool3d", "AdaptiveMaxPool1d",
    "AdaptiveMaxPool2d", "Upsample", "ELU", "LeakyReLU", "Hardtanh", "Hardswish", "Hardsigmoid",
    "Softplus", "Sequential", "ModuleList", "ModuleDict", "ParameterList", "ParameterDict",
    "PixelShuffle", "PixelUnshuffle", "ZeroPad2d", "ConstantPad1d", "ConstantPad2d",
    "ReflectionPad2d", "ReplicationPad2d", "CrossEntropyLoss", "MSELoss", "L1Loss", "NLLLoss",
    "BCELoss", "BCEWithLogitsLoss", "KLDivLoss", "SmoothL1Loss", "HuberLoss", "CosineSimilarity",
})

# Containers whose elements are modules (``nn.ModuleList([...])``): indexing or iterating gives one.
MODULE_CONTAINERS = frozenset({"ModuleList", "Sequential", "ModuleDict"})
# torch.nn layers made of other torch layers (``TransformerEncoder.layers[i].linear2``): below
# them, as in a module tree from a factory, every ``weight``/``bias`` is a Parameter.
COMPOSITE_LAYERS = frozenset({"Transformer", "TransformerEncoder", "TransformerDecoder",
                              "TransformerEncoderLayer", "TransformerDecoderLayer"})
# Builtins and functools/itertools calls that call a function they are given with the *elements*
# of what follows it (not with those arguments themselves).
ELEMENT_CALLERS = frozenset({"map", "filter", "sorted", "min", "max", "reduce", "starmap", "apply",
                             "accumulate", "groupby", "filterfalse", "takewhile", "dropwhile", "vmap",
                             "apply_along_axis", "tree_map", "tree_map_"})
# Python mappings (and subclasses of them by these names): item assignment stores a value.
DICT_CLASSES = frozenset({"dict", "collections.OrderedDict", "OrderedDict", "collections.defaultdict"})
# Module methods that return the module itself.
MODULE_RETURNS_SELF = frozenset({"to", "cuda", "cpu", "float", "double", "half", "bfloat16", "eval",
                                 "train", "to_empty", "type"})
# Factories and loaders that build a whole module tree out of torch layers (pretrained or not).
MODULE_TREE_FACTORIES = frozenset({"timm.create_model", "torch.hub.load", "timm.models.create_model"})
MODULE_TREE_PACKAGES = ("torchvision.models.",)
# ``X.from_pretrained(...)`` builds a module tree unless X names one of these.
NOT_MODULE_CLASS_WORDS = ("Tokenizer", "Config", "Processor", "FeatureExtractor", "Scheduler",
                          "ImageProcessor", "Dataset")
# In a module tree built from torch layers, these attributes of a submodule are Parameters.
TREE_PARAMETERS = frozenset({"weight", "bias"})

# Factories whose result is a fresh leaf when called with requires_grad=True.
FACTORIES = frozenset({
    "tensor", "as_tensor", "randn", "rand", "randint", "zeros", "ones", "empty", "full", "arange",
    "linspace", "logspace", "eye", "randn_like", "rand_like", "zeros_like", "ones_like",
    "empty_like", "full_like", "randint_like", "normal", "randperm", "empty_strided",
})

# Tensor methods and attributes whose result is a view of the receiver.
VIEW_METHODS = frozenset({
    "view", "view_as", "reshape", "reshape_as", "t", "transpose", "permute", "narrow", "expand",
    "expand_as", "squeeze", "unsqueeze", "select", "diagonal", "as_strided", "unflatten",
    "flatten", "movedim", "moveaxis", "swapaxes", "swapdims", "unfold", "view_as_real",
    "adjoint", "mT", "T", "H", "mH", "real", "imag",
})
VIEW_ATTRIBUTES = frozenset({"T", "mT", "H", "mH", "real", "imag"})

# Tensor methods whose result is a copy of the receiver (or the receiver itself, when it already
# has that dtype or layout): never a view that could share a leaf's storage.
TENSOR_COPY_METHODS = frozenset({"clone", "contiguous", "float", "double", "half", "bfloat16"})

# Methods of torch.Tensor ending in "_" that do not write the tensor's values (checked against
# torch by tests/test_torchapi.py: retain_grad, record_stream, pin_memory and register_hook
# have no trailing underscore, so they never looked in-place).
NOT_INPLACE_METHODS = frozenset({"requires_grad_", "share_memory_", "detach_"})

# torch.* / F.* functions ending in "_" that are not in-place on their first argument.
NOT_INPLACE_FUNCTION_PREFIXES = ("torch.nn.init.", "torch.nn.utils.", "torch.cuda.",
                                 "torch.random.", "torch.backends.", "torch.distributed.")
NOT_INPLACE_FUNCTIONS = frozenset({"torch.manual_seed", "torch.set_default_dtype"})

# Reads through .data that never feed a parameter's value into the graph: metadata, and an
# explicit ``.detach()`` (a deliberate stop-gradient). Shared by LL203 and the probe.
METADATA_ATTRIBUTES = frozenset({
    "detach", "names",
    "shape", "dtype", "device", "size", "dim", "ndim", "ndimension", "numel", "nelement",
    "data_ptr", "is_cuda", "is_contiguous", "layout", "stride", "element_size", "is_leaf",
    "requires_grad", "item", "tolist", "numpy", "storage", "untyped_storage", "is_meta",
    "is_floating_point", "is_complex", "new_zeros", "new_ones", "new_empty", "new_full",
    "new_tensor", "type", "storage_offset", "is_sparse", "is_quantized", "qscheme",
    "get_device", "__len__", "nbytes", "itemsize",
})

# Tensor methods whose result is not one tensor: a tuple (values and indices, pieces), a bool, or
# nothing. Any other method called on a plain tensor gives a plain tensor.
NOT_TENSOR_METHODS = frozenset({
    "split", "chunk", "unbind", "tensor_split", "hsplit", "vsplit", "dsplit", "split_with_sizes",
    "max", "min", "sort", "topk", "kthvalue", "median", "nanmedian", "mode", "aminmax", "cummax",
    "cummin", "frexp", "svd", "qr", "slogdet", "lu", "histogram", "unique", "unique_consecutive",
    "equal", "allclose", "backward", "register_hook", "tolist", "item", "numpy", "size", "dim",
    "numel", "data_ptr", "stride", "storage", "untyped_storage", "get_device", "element_size",
    "nelement", "ndimension", "storage_offset", "type", "__len__",
})


def returns_tensor(method: str) -> bool:
    """Whether ``t.method(...)`` on a tensor ``t`` gives one tensor (as far as its name tells)."""
    return method not in NOT_TENSOR_METHODS and not method.startswith(("is_", "_"))


# Module methods that do bookkeeping, not computation: calling them puts nothing in a graph,
# so `for p in D.parameters():` or `D.zero_grad()` is not a differentiable use of `D`.
MODULE_BOOKKEEPING_METHODS = frozenset({
    "parameters", "named_parameters", "buffers", "named_buffers", "children", "named_children",
    "modules", "named_modules", "zero_grad", "state_dict", "train", "eval",
})

# Functions whose arguments are only inspected.
INSPECTING_FUNCTIONS = frozenset({
    "isinstance", "len", "id", "print", "type", "hasattr", "getattr", "repr", "str", "hash",
    "torch.is_tensor", "torch.numel", "logging.info", "warnings.warn",
})

# Functions that copy their arguments' values (a module, a tensor) rather than compute with them:
# not a use in a graph.
COPYING_FUNCTIONS = frozenset({"copy.deepcopy", "copy.copy"})

# torch functions that rewrite the modules they are given (swap layers, convert weights); any
# library function outside torch called for its side effects on a module is treated the same.
OPAQUE_MODULE_REWRITERS = ("torch.ao.", "torch.quantization.", "torch.fx.")

# Grad-mode context managers and decorators (normalised qualified names).
NO_GRAD = frozenset({"torch.no_grad", "torch.autograd.no_grad", "torch.autograd.grad_mode.no_grad"})
ENABLE_GRAD = frozenset({"torch.enable_grad", "torch.autograd.enable_grad",
                         "torch.autograd.grad_mode.enable_grad"})
INFERENCE_MODE = frozenset({"torch.inference_mode", "torch.autograd.inference_mode",
                            "torch.autograd.grad_mode.inference_mode"})
SET_GRAD_ENABLED = frozenset({"torch.set_grad_enabled", "torch.autograd.set_grad_enabled",
                              "torch.autograd.grad_mode.set_grad_enabled"})
# Decorator names that turn grad off whatever their import path (torch.optim internals).
NO_GRAD_DECORATOR_NAMES = frozenset({"_use_grad_for_differentiable", "_no_grad", "no_grad"})

PARAMETER = frozenset({"torch.nn.Parameter", "torch.nn.parameter.Parameter",
                       "torch.nn.UninitializedParameter"})
BUFFER = frozenset({"torch.nn.Buffer", "torch.nn.parameter.Buffer"})
MODULE_BASES = frozenset({"torch.nn.Module", "torch.nn.modules.module.Module"})
AUTOGRAD_FUNCTION = frozenset({"torch.autograd.Function", "torch.autograd.function.Function",
                               "torch.autograd.function.InplaceFunction"})


def normalise(qualname: str) -> str:
    """Fold torch's internal module paths into their public names."""
    if qualname.startswith("torch.nn.modules."):
        return "torch.nn." + qualname.rsplit(".", 1)[-1]
    if qualname.startswith("torch.nn.parameter."):
        return "torch.nn." + qualname.rsplit(".", 1)[-1]
    return qualname


def torch_nn_layer(qualname: str | None) -> str | None:
    """``torch.nn.Linear`` -> ``Linear`` when it names a torch.nn layer class."""
    if qualname and qualname.startswith("torch.nn.") and qualname.count(".") == 2:
        name = qualname.rsplit(".", 1)[-1]
        if name[:1].isupper():
            return name
    return None


# In-place tensor initialisers and their torch.nn.init equivalents (which run under no_grad):
# method -> (nn.init function, keyword renames method -> function, max positional arguments).
# The single table for rule advice (LL1, LL2) and the fix rewriter. No `ones_`: torch.Tensor has
# no such method (torch 2.13: hasattr(torch.Tensor, 'ones_') is False), so it never matches.
NN_INIT: dict[str, tuple[str, dict[str, str], int]] = {
    "uniform_": ("uniform_", {"to": "b", "generator": "generator"}, 2),
    "normal_": ("normal_", {"mean": "mean", "std": "std", "generator": "generator"}, 2),
    "zero_": ("zeros_", {}, 0),
    "fill_": ("constant_", {"value": "val"}, 1),
}


def nn_init_name(method: str) -> str | None:
    """``nn.init.<function>`` for an in-place initialiser method, or None."""
    entry = NN_INIT.get(method)
    return f"nn.init.{entry[0]}" if entry else None


# In-place methods that multiply, mask or drop values (not a clamp or a projection).
MASKING_METHODS = frozenset({"mul_", "masked_fill_", "masked_scatter_", "bernoulli_", "index_fill_",
                             "dropout_"})

# Ops whose result is integer or boolean (indices, counts, masks): it never requires grad and
# carries no graph, so nothing it came from is backpropagated through it.
INDEX_RESULT_OPS = frozenset({
    "argmax", "argmin", "argsort", "nonzero", "argwhere", "searchsorted", "bucketize", "bincount",
    "eq", "ne", "lt", "le", "gt", "ge", "isnan", "isinf", "isfinite", "isclose", "logical_and",
    "logical_or", "logical_not", "logical_xor", "long", "int", "bool", "count_nonzero",
})
# Ops returning (values, indices): the second element is an index tensor.
VALUES_INDICES_OPS = frozenset({"topk", "sort", "max", "min", "kthvalue", "mode", "median", "nanmedian",
                                "cummax", "cummin"})
