package sdk

// MergePatch applies patch to state with JSON Merge Patch semantics (RFC 7386):
// objects merge recursively, a null value deletes the key, anything else replaces
// it. state is modified in place and returned; nested objects of the patch are
// copied, so later changes to state never reach back into the patch.
func MergePatch(state, patch map[string]any) map[string]any {
	if state == nil {
		state = make(map[string]any, len(patch))
	}
	for k, pv := range patch {
		if pv == nil {
			delete(state, k)
			continue
		}
		pObj, pIsObj := pv.(map[string]any)
		if !pIsObj {
			state[k] = pv
			continue
		}
		sObj, sIsObj := state[k].(map[string]any)
		if !sIsObj {
			sObj = nil
		}
		state[k] = MergePatch(sObj, pObj)
	}
	return state
}
