import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as m}from"./chunks/chunk-DVNKI44J.js";import{g as r}from"./chunks/chunk-QFFZ4CFV.js";import"./chunks/chunk-GJCLC6IR.js";import"./chunks/chunk-KFGXSOQI.js";import"./chunks/chunk-72O3HK4F.js";import"./chunks/chunk-67BG23Y2.js";await m(()=>r());
