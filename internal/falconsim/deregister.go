package falconsim

// RemoveAccount deregisters an account from CSPM, as a person does in the
// Falcon console: it is no longer listed, and its record is no longer
// returned (the entity endpoint answers 207 without it). Its role stays (an
// IAM role outlives a registration). It reports whether the account existed.
func (s *Sim) RemoveAccount(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	_, ok := s.accounts[id]
	delete(s.accounts, id)
	return ok
}
