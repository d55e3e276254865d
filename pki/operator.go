package pki

import "github.com/gatehouse/gatehouse/store"

// OperatorCan reports whether an operator may move a certificate from one
// state to another: every move the lifecycle allows except activation,
// which only the certificate's first verified handshake makes. Front ends
// offer exactly these actions.
func OperatorCan(from, to store.State) bool {
	return CanTransition(from, to) && !(from == store.StateInactive && to == store.StateActive)
}
