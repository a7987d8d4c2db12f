package pth

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/lstmq/lstmq/internal/errkind"

	"github.com/nlpodyssey/gopickle/types"
)

// A whole-module checkpoint, torch.save(model, f) as the word_language_model
// example's main.py writes it, pickles the model object itself:
//
//	model.RNNModel                         NEWOBJ, then BUILD with its __dict__:
//	    _parameters, _buffers              OrderedDicts (empty for RNNModel)
//	    _modules                           OrderedDict of the submodules:
//	        drop     torch.nn.modules.dropout.Dropout   p
//	        encoder  torch.nn.modules.sparse.Embedding  num_embeddings, embedding_dim, max_norm
//	        rnn      torch.nn.modules.rnn.LSTM|GRU|RNN  mode, input_size, hidden_size,
//	                                                    num_layers, bias, batch_first,
//	                                                    dropout, bidirectional, proj_size,
//	                                                    nonlinearity (RNN)
//	        decoder  torch.nn.modules.linear.Linear     in_features, out_features
//	    rnn_type, nhid, nlayers, ntoken    ints and a string
//
// each submodule built the same way, its parameters in its _parameters as
// torch._utils._rebuild_parameter(_rebuild_tensor_v2(…), requires_grad,
// OrderedDict()). Hooks are OrderedDicts, _non_persistent_buffers_set a
// __builtin__.set of a list. Protocol 1 (and 0) build objects through
// copy_reg._reconstructor(class, __builtin__.object, None) instead of
// NEWOBJ; the legacy format pickles each class as a persistent id
// ('module', class, source file, source).
//
// The classes are mapped to moduleClass, which gopickle can only
// instantiate empty (PyNew, never Call), and whose objects only record the
// dict BUILD gives them; readModule then walks that tree as data.

// Module describes the model a whole-module checkpoint (torch.save(model))
// pickled.
type Module struct {
	Class        string  // the top-level class as pickled, e.g. "model.RNNModel", "__main__.RNNModel"
	RNNType      string  // "LSTM", "GRU", "RNN_TANH" or "RNN_RELU" (from the rnn submodule's class and mode/nonlinearity; cross-check with the rnn_type attribute when present)
	Nonlinearity string  // "tanh" or "relu" for RNN types, "" otherwise
	Dropout      float64 // the model's drop submodule p (nn.Dropout), or the rnn's dropout attribute when there is no drop module
	// NInp, NHid, NLayers are the rnn module's input_size, hidden_size
	// and num_layers.
	NInp, NHid, NLayers int
}

// The kinds of module classes a whole-module checkpoint may name.
const (
	kindModel     = "RNNModel"
	kindEmbedding = "Embedding"
	kindLSTM      = "LSTM"
	kindGRU       = "GRU"
	kindRNN       = "RNN"
	kindLinear    = "Linear"
	kindDropout   = "Dropout"
)

// torchModules are the torch.nn classes of the example's RNNModel.
var torchModules = map[string]string{
	"torch.nn.modules.sparse.Embedding": kindEmbedding,
	"torch.nn.modules.rnn.LSTM":         kindLSTM,
	"torch.nn.modules.rnn.GRU":          kindGRU,
	"torch.nn.modules.rnn.RNN":          kindRNN,
	"torch.nn.modules.linear.Linear":    kindLinear,
	"torch.nn.modules.dropout.Dropout":  kindDropout,
}

// moduleOnlyGlobals are the globals a whole-module pickle needs besides
// its classes: gopickle resolves the first two itself (to inert types:
// _reconstructor only calls PyNew of the class it is given), the others
// are setClass. scanPickle accepts them only in a pickle that also names
// a module class.
var moduleOnlyGlobals = map[string]bool{
	"copy_reg._reconstructor": true,
	"__builtin__.object":      true,
	"__builtin__.set":         true,
	"builtins.set":            true,
}

// moduleKind returns the kind of the module class module.name, or "" if
// it is not one: the torch.nn classes above, and any class named
// RNNModel, whatever its module (model, __main__, a user's own).
func moduleKind(module, name string) string {
	if k := torchModules[module+"."+name]; k != "" {
		return k
	}
	if name == kindModel && dottedName(module) {
		return kindModel
	}
	return ""
}

// dottedName reports whether s is a dotted Python name of ASCII
// identifiers, as a module's __name__ is.
func dottedName(s string) bool {
	if s == "" || len(s) > 256 {
		return false
	}
	for _, part := range strings.Split(s, ".") {
		if part == "" || part[0] >= '0' && part[0] <= '9' {
			return false
		}
		for _, c := range []byte(part) {
			if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
				return false
			}
		}
	}
	return true
}

// moduleClass is a module class named by a global. gopickle can create
// its objects only empty, through NEWOBJ or _reconstructor; it is not
// callable, so REDUCE on it fails.
type moduleClass struct {
	name string // module.name as pickled
	kind string
}

// PyNew is cls.__new__(cls): an empty object, for BUILD to fill.
func (c *moduleClass) PyNew(args ...any) (any, error) {
	if len(args) != 0 {
		return nil, fmt.Errorf("%s.__new__ with %d arguments", c.name, len(args))
	}
	return &moduleObject{class: c}, nil
}

// moduleObject is an object of a module class: its __dict__, as BUILD set
// it.
type moduleObject struct {
	class *moduleClass
	attrs map[string]any
}

// PySetState is BUILD with the object's __dict__. It copies the entries:
// what the pickle does to the dict afterwards does not change the object.
func (o *moduleObject) PySetState(state any) error {
	if o.attrs != nil {
		return fmt.Errorf("%s object built twice", o.class.name)
	}
	d, ok := state.(*types.Dict)
	if !ok {
		return fmt.Errorf("%s object built with a %s, not a dict", o.class.name, pyType(state))
	}
	o.attrs = make(map[string]any, d.Len())
	for _, e := range *d {
		k, ok := e.Key.(string)
		if !ok {
			return fmt.Errorf("%s object: attribute name %s is not a string", o.class.name, pyRepr(e.Key))
		}
		o.attrs[k] = e.Value
	}
	return nil
}

// setClass is the global __builtin__.set (builtins.set): set(items) is the
// list of items, kept as data; nothing hashes them.
type setClass struct{}

// pySet is a set built by setClass.
type pySet []any

// Call is set() or set(list).
func (setClass) Call(args ...any) (any, error) {
	switch len(args) {
	case 0:
		return pySet{}, nil
	case 1:
		items, ok := listItems(args[0])
		if !ok {
			return nil, fmt.Errorf("set of a %s", pyType(args[0]))
		}
		return pySet(items), nil
	}
	return nil, fmt.Errorf("set with %d arguments", len(args))
}

// modulePersistentID decodes the legacy format's ('module', class, source
// file, source), which stands for the class.
func modulePersistentID(t *types.Tuple) (any, error) {
	if t.Len() != 4 {
		return nil, fmt.Errorf("module persistent id of %d items, want ('module', class, source file, source)", t.Len())
	}
	c, ok := t.Get(1).(*moduleClass)
	if !ok {
		return nil, fmt.Errorf("module persistent id of a %s, not a module class", pyType(t.Get(1)))
	}
	for _, v := range []any{t.Get(2), t.Get(3)} {
		if _, isStr := v.(string); !isStr && v != nil {
			return nil, fmt.Errorf("module persistent id of %s: source is %s", c.name, pyType(v))
		}
	}
	return c, nil
}

// moduleError is a module tree that is not the example's RNNModel.
func moduleError(format string, a ...any) error {
	return errkind.Errorf(ErrFormat, format, a...)
}

// moduleTree is what readModule found: the state dict entries, the Module,
// and the sizes the encoder and decoder declare.
type moduleTree struct {
	keys   []string
	values []any
	module *Module
	dims   moduleDims
	// metadata is the _metadata module.state_dict() sets: the model and
	// each submodule, in the order of _modules, at version 1, the _version
	// of nn.Module and of each of the example's classes.
	metadata []ModuleVersion
}

// moduleDims are the encoder's and decoder's sizes.
type moduleDims struct {
	numEmbeddings, embeddingDim, inFeatures, outFeatures int
}

// readModule walks the object tree of a whole-module checkpoint as data and
// returns its state dict entries, as module.state_dict() orders them (each
// submodule's _parameters in order, prefixed with its name in _modules;
// None parameters skipped), with the Module they describe. It accepts the
// example's RNNModel: submodules encoder (Embedding), rnn (LSTM, GRU or
// RNN, unidirectional, with biases, batch_first False, no projection),
// decoder (Linear) and optionally drop (Dropout), none with buffers or
// submodules of its own. Shapes are checked later, by checkModuleShapes.
func readModule(root *moduleObject) (*moduleTree, error) {
	var (
		keys   []string
		values []any
		dims   moduleDims
		err    error
	)
	top := root.class.name
	if root.class.kind != kindModel {
		return nil, moduleError("the checkpoint holds a %s module, not the word_language_model example's RNNModel", show(top))
	}
	if err := leafState(root, top, true); err != nil {
		return nil, err
	}
	mods, ok := root.attrs["_modules"]
	if !ok {
		return nil, missingAttr(label(top, root), "_modules")
	}
	names, subs, ok := orderedItems(mods)
	if !ok {
		return nil, moduleError("%s: _modules is %s, not a dict", show(top), pyType(mods))
	}
	m := &Module{Class: top}
	meta := []ModuleVersion{{Name: "", Version: 1}}
	want := map[string]string{"drop": kindDropout, "encoder": kindEmbedding, "rnn": "LSTM, GRU or RNN", "decoder": kindLinear}
	found := map[string]*moduleObject{}
	for i, n := range names {
		name, ok := n.(string)
		if !ok {
			return nil, moduleError("%s: module name %s is not a string", show(top), pyRepr(n))
		}
		what, known := want[name]
		if !known {
			return nil, moduleError("%s: module %q (%s): the example's RNNModel has only drop, encoder, rnn and decoder",
				show(top), name, moduleName(subs[i]))
		}
		if _, dup := found[name]; dup {
			return nil, moduleError("%s: module %q twice", show(top), name)
		}
		if subs[i] == nil && name == "drop" {
			continue
		}
		sub, ok := subs[i].(*moduleObject)
		kind := ""
		if ok {
			kind = sub.class.kind
			if kind == kindLSTM || kind == kindGRU || kind == kindRNN {
				kind = "LSTM, GRU or RNN"
			}
		}
		if kind != what {
			return nil, moduleError("%s: %s is %s, want %s", show(top), name, moduleName(subs[i]), what)
		}
		if err := leafState(sub, name, false); err != nil {
			return nil, err
		}
		found[name] = sub
		meta = append(meta, ModuleVersion{Name: name, Version: 1})
		pk, pv, err := parameters(sub, name)
		if err != nil {
			return nil, err
		}
		keys, values = append(keys, pk...), append(values, pv...)
	}
	for _, name := range []string{"encoder", "rnn", "decoder"} {
		if found[name] == nil {
			return nil, moduleError("%s: no %s module (found %s)", show(top), name, strings.Join(stringsOf(names), ", "))
		}
	}
	if err := rnnParams(found["rnn"], m); err != nil {
		return nil, err
	}
	if d := found["drop"]; d != nil {
		if m.Dropout, err = probability(d, "drop", "p"); err != nil {
			return nil, err
		}
	}
	for _, c := range []struct {
		sub, attr string
		dst       *int
	}{
		{"encoder", "num_embeddings", &dims.numEmbeddings}, {"encoder", "embedding_dim", &dims.embeddingDim},
		{"decoder", "in_features", &dims.inFeatures}, {"decoder", "out_features", &dims.outFeatures},
	} {
		if *c.dst, err = intAttr(found[c.sub], c.sub, c.attr); err != nil {
			return nil, err
		}
	}
	if v, ok := found["encoder"].attrs["max_norm"]; ok && v != nil {
		return nil, moduleError("%s: max_norm is %s; the example's Embedding has none", label("encoder", found["encoder"]), pyRepr(v))
	}
	// The wrapper's own attributes, when present, must agree.
	if v, ok := root.attrs["rnn_type"]; ok {
		if s, _ := v.(string); s != m.RNNType {
			return nil, moduleError("%s: rnn_type is %s, but rnn is a %s", show(top), pyRepr(v), m.RNNType)
		}
	}
	for _, c := range []struct {
		attr string
		want int
	}{{"nhid", m.NHid}, {"nlayers", m.NLayers}} {
		if v, ok := root.attrs[c.attr]; ok {
			if n, isInt := v.(int); !isInt || n != c.want {
				return nil, moduleError("%s: %s is %s, but the rnn has %d", show(top), c.attr, pyRepr(v), c.want)
			}
		}
	}
	return &moduleTree{keys: keys, values: values, module: m, dims: dims, metadata: meta}, nil
}

// rnnParams reads the rnn module's hyperparameters into m and checks that
// it is one the example builds.
func rnnParams(rnn *moduleObject, m *Module) error {
	const where = "rnn"
	mode, err := strAttr(rnn, where, "mode")
	if err != nil {
		return err
	}
	if m.NInp, err = intAttr(rnn, where, "input_size"); err != nil {
		return err
	}
	if m.NHid, err = intAttr(rnn, where, "hidden_size"); err != nil {
		return err
	}
	if m.NLayers, err = intAttr(rnn, where, "num_layers"); err != nil {
		return err
	}
	for _, c := range []struct {
		attr string
		want bool
	}{{"bias", true}, {"batch_first", false}, {"bidirectional", false}} {
		v, ok := rnn.attrs[c.attr]
		if !ok {
			return missingAttr(label(where, rnn), c.attr)
		}
		if b, isBool := v.(bool); !isBool || b != c.want {
			return moduleError("%s: %s is %s; lstmq reads only %s=%s", label(where, rnn), c.attr, pyRepr(v), c.attr, pyBool(c.want))
		}
	}
	if v, ok := rnn.attrs["proj_size"]; ok {
		if n, isInt := v.(int); !isInt || n != 0 {
			return moduleError("%s: proj_size is %s; lstmq reads only proj_size=0", label(where, rnn), pyRepr(v))
		}
	}
	if m.Dropout, err = probability(rnn, where, "dropout"); err != nil {
		return err
	}
	switch k := rnn.class.kind; k {
	case kindLSTM, kindGRU:
		if mode != k {
			return moduleError("%s: mode is %q, want %q", label(where, rnn), mode, k)
		}
		m.RNNType = k
	default: // RNN
		nl, err := strAttr(rnn, where, "nonlinearity")
		if err != nil {
			return err
		}
		switch {
		case nl == "tanh" && mode == "RNN_TANH", nl == "relu" && mode == "RNN_RELU":
		default:
			return moduleError("%s: mode %q with nonlinearity %q, want RNN_TANH with tanh or RNN_RELU with relu", label(where, rnn), mode, nl)
		}
		m.RNNType, m.Nonlinearity = mode, nl
	}
	return nil
}

// leafState checks the parts of a module's state every module has:
// _parameters, _buffers (empty: the example's modules have none) and
// _modules (empty but for the top, whose own _parameters are empty).
func leafState(o *moduleObject, where string, top bool) error {
	if o.attrs == nil {
		return moduleError("%s: object without state", label(where, o))
	}
	for _, a := range []string{"_parameters", "_buffers", "_modules"} {
		v, ok := o.attrs[a]
		if !ok {
			return missingAttr(label(where, o), a)
		}
		names, vals, ok := orderedItems(v)
		if !ok {
			return moduleError("%s: %s is %s, not a dict", label(where, o), a, pyType(v))
		}
		if a == "_buffers" || a == "_modules" && !top || a == "_parameters" && top {
			for i, n := range names {
				if vals[i] != nil {
					return moduleError("%s: %s holds %s; the example's %s none", label(where, o), a, pyRepr(n),
						map[bool]string{true: "RNNModel has", false: "submodules have"}[top])
				}
			}
		}
	}
	return nil
}

// layerParams are the parameters of the rnn's layer k; fixedParams those
// of the other submodules.
var (
	layerParams = []string{"weight_ih_l%d", "weight_hh_l%d", "bias_ih_l%d", "bias_hh_l%d"}
	fixedParams = map[string][]string{kindEmbedding: {"weight"}, kindLinear: {"weight", "bias"}}
)

// parameters returns the submodule's parameters in the order of its
// _parameters, named prefix.name, skipping None. Every name must be one
// the module's class has; the rnn must have all of its layers', the
// Embedding and Linear their weight.
func parameters(o *moduleObject, prefix string) (keys []string, values []any, err error) {
	allowed := map[string]bool{}
	var required []string
	switch o.class.kind {
	case kindLSTM, kindGRU, kindRNN:
		n, err := intAttr(o, prefix, "num_layers")
		if err != nil {
			return nil, nil, err
		}
		if n > 1024 {
			return nil, nil, moduleError("%s: num_layers is %d", label(prefix, o), n)
		}
		for k := range n {
			for _, p := range layerParams {
				name := fmt.Sprintf(p, k)
				allowed[name] = true
				required = append(required, name)
			}
		}
	case kindEmbedding, kindLinear:
		for _, p := range fixedParams[o.class.kind] {
			allowed[p] = true
		}
		required = []string{"weight"}
	}
	names, vals, _ := orderedItems(o.attrs["_parameters"])
	have := map[string]bool{}
	for i, n := range names {
		name, ok := n.(string)
		if !ok || !allowed[name] {
			return nil, nil, moduleError("%s: unexpected parameter %s", label(prefix, o), pyRepr(n))
		}
		if vals[i] == nil {
			continue
		}
		have[name] = true
		keys = append(keys, prefix+"."+name)
		values = append(values, vals[i])
	}
	for _, name := range required {
		if !have[name] {
			return nil, nil, moduleError("%s: no parameter %q", label(prefix, o), name)
		}
	}
	return keys, values, nil
}

// checkModuleShapes checks the tensors of a whole-module checkpoint against
// the attributes of the modules that hold them: the encoder's weight is
// num_embeddings × embedding_dim, the rnn's weights G·nhid × input (G = 4
// for LSTM, 3 for GRU, 1 for RNN; input is ninp for layer 0, nhid above)
// and biases G·nhid, the decoder's weight out_features × in_features and
// bias out_features; and the modules fit together: the encoder's
// embedding_dim is the rnn's input_size, its hidden_size the decoder's
// in_features.
func checkModuleShapes(tree *moduleTree, keys []string, tensors map[string]*Tensor) error {
	m, d := tree.module, tree.dims
	if d.embeddingDim != m.NInp {
		return moduleError("encoder embedding_dim %d, but the rnn's input_size is %d", d.embeddingDim, m.NInp)
	}
	if d.inFeatures != m.NHid {
		return moduleError("decoder in_features %d, but the rnn's hidden_size is %d", d.inFeatures, m.NHid)
	}
	gates := map[string]int{"LSTM": 4, "GRU": 3}[m.RNNType]
	if gates == 0 {
		gates = 1
	}
	g := gates * m.NHid
	want := map[string][]int{
		"encoder.weight": {d.numEmbeddings, m.NInp},
		"decoder.weight": {d.outFeatures, m.NHid},
		"decoder.bias":   {d.outFeatures},
	}
	for k := range m.NLayers {
		in := m.NHid
		if k == 0 {
			in = m.NInp
		}
		want[fmt.Sprintf("rnn.weight_ih_l%d", k)] = []int{g, in}
		want[fmt.Sprintf("rnn.weight_hh_l%d", k)] = []int{g, m.NHid}
		want[fmt.Sprintf("rnn.bias_ih_l%d", k)] = []int{g}
		want[fmt.Sprintf("rnn.bias_hh_l%d", k)] = []int{g}
	}
	for _, key := range keys {
		t := tensors[key]
		w, ok := want[key]
		if !ok {
			return moduleError("key %q: not a parameter of the example's RNNModel", key) // unreachable: readModule checked the names
		}
		if t.Data == nil {
			return moduleError("key %q: a %s tensor, want a floating point one", key, t.DType)
		}
		if !slices.Equal(t.Shape, w) {
			return moduleError("key %q: shape %v, want %v for the %s module's attributes", key, t.Shape, w, m.RNNType)
		}
	}
	return nil
}

// label names a module for errors: its name in the model and its class.
func label(where string, o *moduleObject) string {
	if where == o.class.name {
		return show(where)
	}
	return where + " (" + show(o.class.name) + ")"
}

// missingAttr is the error for a module without an attribute its class
// always has.
func missingAttr(where, attr string) error {
	return moduleError("%s: missing attribute %q", where, attr)
}

func intAttr(o *moduleObject, where, attr string) (int, error) {
	v, ok := o.attrs[attr]
	if !ok {
		return 0, missingAttr(label(where, o), attr)
	}
	n, ok := v.(int)
	if !ok || n < 1 || n > math.MaxInt32 {
		return 0, moduleError("%s: %s is %s, want a positive int", label(where, o), attr, pyRepr(v))
	}
	return n, nil
}

func strAttr(o *moduleObject, where, attr string) (string, error) {
	v, ok := o.attrs[attr]
	if !ok {
		return "", missingAttr(label(where, o), attr)
	}
	s, ok := v.(string)
	if !ok {
		return "", moduleError("%s: %s is %s, want a str", label(where, o), attr, pyRepr(v))
	}
	return s, nil
}

// probability reads a dropout probability, a float (or int) in [0, 1].
func probability(o *moduleObject, where, attr string) (float64, error) {
	v, ok := o.attrs[attr]
	if !ok {
		return 0, missingAttr(label(where, o), attr)
	}
	var p float64
	switch x := v.(type) {
	case float64:
		p = x
	case int:
		p = float64(x)
	default:
		return 0, moduleError("%s: %s is %s, want a float", label(where, o), attr, pyRepr(v))
	}
	if !(p >= 0 && p <= 1) {
		return 0, moduleError("%s: %s is %v, want a probability", label(where, o), attr, p)
	}
	return p, nil
}

// moduleName names what a _modules entry holds, for errors.
func moduleName(v any) string {
	if o, ok := v.(*moduleObject); ok {
		return show(o.class.name)
	}
	return pyType(v)
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

func stringsOf(vs []any) []string {
	out := make([]string, len(vs))
	for i, v := range vs {
		if s, ok := v.(string); ok {
			out[i] = show(s)
		} else {
			out[i] = pyRepr(v)
		}
	}
	return out
}
