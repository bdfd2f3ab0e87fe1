//! Walking inputs and opening files safely. (Scaffold.)
