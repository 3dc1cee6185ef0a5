import { createRequire as __cr } from 'node:module'; const require = __cr(import.meta.url);
import{a as o,b as i}from"./chunks/chunk-LIFMZIKO.js";import{g as m}from"./chunks/chunk-EAE7ALDG.js";import"./chunks/chunk-FPEOWVOM.js";import{t as r}from"./chunks/chunk-QHF2J24E.js";import"./chunks/chunk-67BG23Y2.js";var t=o(process.env);r(t.log);await i(t,()=>m());
