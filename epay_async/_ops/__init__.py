"""Operations: one module per gateway feature, each building requests and parsing answers."""
